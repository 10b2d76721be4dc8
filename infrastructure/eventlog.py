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
from typing import TYPE_CHECKING, cast

from infrastructure.eventchain import Link

if TYPE_CHECKING:
    from eventsourcing.persistence import ApplicationRecorder, Cipher, Notification

    from infrastructure.chaincheck import Entry
    from infrastructure.eventchain import ChainRecorder
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

    # ---- the chain over the log (infrastructure.eventchain) -----------------------------

    @property
    def chain(self) -> ChainRecorder:
        """The recorder's chain side (every recorder of this program's event store has one)."""
        return cast("ChainRecorder", self.recorder)

    def linked_notifications(self, after: int = 0, batch: int = BATCH
                             ) -> Iterator[tuple[Notification, Link | None]]:
        """Every event after a position with its link (None: not chained), oldest first."""
        while True:
            found = self.read(after, batch)
            if not found:
                return
            links = {x.position: x for x in self.chain.select_links(after, found[-1].id)}
            for notification in found:
                yield notification, links.get(notification.id)
            if len(found) < batch:
                return
            after = found[-1].id

    def entries(self, after: int = 0, until: int | None = None,
                batch: int = BATCH) -> Iterator[Entry]:
        """Every position after `after` (up to `until`) as the chain's walk reads it: each
        event with its link (one joined read), and the links whose event is gone."""
        from infrastructure.chaincheck import Entry

        chain = self.chain
        while True:
            rows = chain.select_linked_events(after, batch)
            last = until
            if until is not None and rows and rows[-1][0] > until:
                rows = [row for row in rows if row[0] <= until]
            elif len(rows) == batch:
                last = rows[-1][0]
            orphans = chain.select_orphan_links(after, last)
            for row in rows:
                position = row[0]
                while orphans and orphans[0].position < position:
                    orphan = orphans.pop(0)
                    yield Entry(orphan.position, None, link_columns(orphan))
                oid, version, topic, state, previous, digest = row[1:]
                if (type(oid) is str and type(version) is int and type(topic) is str
                        and type(state) is bytes and type(previous) is int
                        and type(digest) is bytes):
                    yield Entry(position, (oid, version, topic, state), (previous, digest))
                else:  # a NULL, a UUID (PostgreSQL), or a value changed by hand
                    yield Entry(position, columns(row[:5]), None if previous is None and
                                digest is None else link_columns(Link(position, previous,
                                                                      digest)))
            for orphan in orphans:
                yield Entry(orphan.position, None, link_columns(orphan))
            if last is None or last == until:
                return
            after = last


def columns(row: Sequence[object]) -> tuple[str, int, str, bytes]:
    """A stored event's columns as the chain's layout takes them. A value of the wrong type
    (a row changed by hand) becomes one its original cannot hash to, never an error."""
    from infrastructure.eventchain import hex_id

    _, originator_id, version, topic, state = row
    if not isinstance(version, int) or not 0 <= version < 2**64:
        version = 2**64 - 1  # never a stored version: the hash cannot match
    if isinstance(state, str):
        state = state.encode()
    elif not isinstance(state, bytes | bytearray | memoryview):
        state = b""  # (a NULL)
    return (hex_id(originator_id) if originator_id is not None else "", version, str(topic),
            bytes(state))


def link_columns(found: Link) -> tuple[int, bytes]:
    """A link's previous position and hash, a value of the wrong type made one that cannot
    match (see `columns`)."""
    previous = found.previous if isinstance(found.previous, int) else -1
    digest = found.digest
    return previous, (digest.encode() if isinstance(digest, str)
                      else bytes(digest) if digest is not None else b"")


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
