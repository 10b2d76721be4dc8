"""The event log as stored: the one place that reads stored events in log order.

Catching up and exporting read the log through the event store's notification API, so
that a backend whose writers may commit out of order (PostgreSQL) still hands out every
event, in order. Knowing the head of the log is cheap and needs no event store: read
commands ask it on every run to see whether the read models are behind. Copying the log
into another database (`infrastructure.logcopy`) is the one other place that touches
stored events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventsourcing.persistence import ApplicationRecorder, Cipher, Notification

    from infrastructure.sql import Connection

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


def head_position(connection: Connection) -> int:
    """The position of the newest event, read on a read-model connection of the same database
    (no event store needed: read commands ask on every run whether the read models are behind).
    """
    dialect = connection.dialect
    row = connection.execute(
        f"SELECT MAX({dialect.position_column}) FROM {dialect.events_table}").fetchone()
    return int(row[0] or 0)


def event_count(connection: Connection) -> int:
    """How many events the log holds (on PostgreSQL, positions may have gaps: a rolled-back
    append consumes one)."""
    row = connection.execute(f"SELECT COUNT(*) FROM {connection.dialect.events_table}").fetchone()
    return int(row[0])
