"""Catching projections up with the event log, rebuilding them, and reporting their lag."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.application import Application

from domain.events import DomainEvent
from domain.timestamps import to_text
from infrastructure.clock import now
from infrastructure.collector import collection_paused
from infrastructure.eventlog import EventLog
from projections import schema
from projections.projectors import Projector, all_projectors

if TYPE_CHECKING:
    from infrastructure.sql import Connection, Cursor

BATCH_SIZE = 2000
"""Events per transaction while catching up (a rebuild is one transaction of such batches)."""


@contextmanager
def projecting(connection: Connection, *, rebuild: bool = False) -> Iterator[None]:
    """The connection tuned for writing many rows (every table, to `rebuild`), and Python's
    cyclic garbage collector paused: projecting allocates many objects and frees them all."""
    with connection.bulk_writes(rebuild=rebuild), collection_paused():
        yield


class ProjectionRunner:
    """Feeds events from the notification log to projectors, from each one's own position."""

    def __init__(
        self,
        store: Application[Any],
        connection: Connection,
        projectors: Sequence[Projector] | None = None,
    ) -> None:
        self.store = store
        self.log = EventLog(store.recorder)
        self.connection = connection
        self.projectors = list(projectors) if projectors is not None else all_projectors(store)
        self._offers: dict[type[DomainEvent], list[int]] = {}

    def catch_up(self) -> int:
        """Process every event not yet projected; returns how many events were read."""
        total = 0
        with projecting(self.connection):
            while True:
                with self.connection.write_transaction() as cursor:
                    processed = self._process_batch(cursor)
                total += processed
                if processed < BATCH_SIZE:
                    return total

    def rebuild(self, *, until: int | None = None) -> int:
        """Drop every read model and project the log again from position 0, atomically.

        Readers keep seeing the old read models until the rebuild commits.
        """
        total = 0
        dialect = self.connection.dialect
        with projecting(self.connection, rebuild=True), (
                self.connection.write_transaction()) as cursor:
            schema.migrate(cursor, dialect)
            for projector in self.projectors:
                schema.drop_tables(cursor, projector.spec, dialect)
                schema.create_tables(cursor, projector.spec, dialect, indexes=False)
                schema.reset_position(cursor, projector.spec)
            while True:
                processed = self._process_batch(cursor, until=until)
                total += processed
                if processed < BATCH_SIZE:
                    break
            for projector in self.projectors:
                schema.create_indexes(cursor, projector.spec, dialect)
        return total

    def _process_batch(self, cursor: Cursor, until: int | None = None) -> int:
        positions = dict(
            cursor.execute("SELECT name, position FROM projection_positions").fetchall()
        )
        start = min(positions.get(p.spec.name, 0) for p in self.projectors)
        notifications = self.log.read(start, BATCH_SIZE, until)
        if not notifications:
            return 0
        done = [positions.get(projector.spec.name, 0) for projector in self.projectors]
        projectors = self.projectors
        try:
            for notification in notifications:
                event = cast(DomainEvent, self.store.mapper.to_domain_event(notification))
                position = notification.id
                for index in self._offered(type(event)):
                    if position > done[index]:
                        projectors[index].project(cursor, event, position)
            for projector in projectors:
                projector.flush(cursor)
        except BaseException:
            for projector in projectors:
                projector.discard()
            raise
        last = notifications[-1].id
        names = [p.spec.name for p in self.projectors]
        cursor.execute(
            "UPDATE projection_positions SET position = ?, updated_at = ? "
            f"WHERE position < ? AND name IN ({', '.join('?' * len(names))})",
            (last, to_text(now()), last, *names),
        )
        return len(notifications)

    def _offered(self, event_type: type[DomainEvent]) -> list[int]:
        """The projectors (by index) that events of this type can change, in order."""
        offered = self._offers.get(event_type)
        if offered is None:
            offered = self._offers[event_type] = [
                index for index, projector in enumerate(self.projectors)
                if projector.handles(event_type)]
        return offered
