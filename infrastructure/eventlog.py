"""The event log as stored: the one place that reads stored events in log order.

Catching up and exporting read the log through the event store's notification API, so
that a backend whose writers may commit out of order (PostgreSQL) still hands out every
event, in order. Knowing the head of the log is cheap and needs no event store: read
commands ask it on every run to see whether the read models are behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventsourcing.persistence import ApplicationRecorder, Cipher, Notification

BATCH = 1000


class EventLog:
    """The stored events of one event store, in log order (positions start at 1)."""

    def __init__(self, recorder: ApplicationRecorder, cipher: Cipher | None = None) -> None:
        self.recorder = recorder
        self.cipher = cipher
        """The store's cipher (`stacks.encrypt_events`): events are read decrypted."""

    def head(self) -> int:
        """The position of the newest event (0 when there is none)."""
        return int(self.recorder.max_notification_id() or 0)

    def read(self, after: int, limit: int, until: int | None = None) -> Sequence[Notification]:
        """Up to `limit` events after a position (and not after `until`)."""
        if until is not None and until <= after:
            return []
        found = self.recorder.select_notifications(start=after + 1, limit=limit, stop=until)
        if self.cipher is None:
            return found
        from dataclasses import replace

        cipher = self.cipher
        return [replace(notification, state=cipher.decrypt(notification.state))
                for notification in found]

    def notifications(self, after: int = 0, until: int | None = None,
                      batch: int = BATCH) -> Iterator[Notification]:
        """Every event after a position (up to `until`), oldest first, read in batches."""
        while True:
            found = self.read(after, batch, until)
            yield from found
            if len(found) < batch:
                return
            after = found[-1].id


def head_position(connection: sqlite3.Connection) -> int:
    """The position of the newest event, read on a read-model connection of the same file."""
    row = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    return int(row[0] or 0)


def copy_log(source: sqlite3.Connection, target: sqlite3.Connection, *,
             until_event: int | None = None, until_time: str | None = None) -> int:
    """Copy the events up to a log position or time (and the library snapshots they allow).

    Positions are kept, so the copy's audit log shows the same event ids. Per stream, the
    events up to a time are a prefix, because a stream's timestamps never go backwards.
    Returns how many events were copied.
    """
    from pathlib import Path

    from infrastructure.sqlite import immediate, read_only_uri

    # Attached read-only: the source may be a database this process can only read, and
    # copying from it must not leave -wal/-shm files of ours beside it.
    source_file = source.execute("PRAGMA database_list").fetchone()[2]
    target.execute("ATTACH DATABASE ? AS source", (read_only_uri(Path(source_file)),))
    try:
        with immediate(target) as cursor:
            where, params = "1 = 1", []
            if until_time is not None:
                where = "rowid IN (SELECT id FROM source.state_events WHERE created_at <= ?)"
                params = [until_time]
            elif until_event is not None:
                where, params = "rowid <= ?", [str(until_event)]
            cursor.execute(
                "INSERT INTO main.stored_events (rowid, originator_id, originator_version, topic,"
                " state) SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM source.stored_events WHERE {where} ORDER BY rowid", params)
            copied = cursor.rowcount
            cursor.execute(
                "INSERT INTO main.stored_snapshots SELECT s.* FROM source.stored_snapshots s"
                " WHERE s.originator_version <= (SELECT MAX(e.originator_version)"
                " FROM main.stored_events e WHERE e.originator_id = s.originator_id)")
        return copied
    finally:
        target.execute("DETACH DATABASE source")
