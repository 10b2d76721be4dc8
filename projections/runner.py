"""Catching projections up with the event log, rebuilding them, and reporting their lag."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from eventsourcing.application import Application

from domain.events import DomainEvent
from domain.timestamps import to_text
from infrastructure.clock import now
from infrastructure.collector import collection_paused
from infrastructure.eventlog import EventLog
from infrastructure.sqlite import immediate
from projections import schema
from projections.projectors import Projector, all_projectors

BATCH_SIZE = 2000
"""Events per transaction while catching up (a rebuild is one transaction of such batches)."""

CACHE_KIB = 256 * 1024
"""SQLite's page cache while projecting (its default is 2 MiB)."""


@contextmanager
def projecting(connection: sqlite3.Connection, *, rebuild: bool = False) -> Iterator[None]:
    """The read-model connection tuned for writing many rows (every table, to `rebuild`).

    A large page cache keeps the indexes being written in memory instead of spilling and
    reading them back (it is only a limit: pages are taken as needed); a rebuild also sorts
    in memory, to build the indexes last.
    """
    (cache_size,) = connection.execute("PRAGMA cache_size").fetchone()
    (temp_store,) = connection.execute("PRAGMA temp_store").fetchone()
    connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if rebuild:
        connection.execute("PRAGMA temp_store = MEMORY")
    try:
        with collection_paused():
            yield
    finally:
        connection.execute(f"PRAGMA cache_size = {int(cache_size)}")
        connection.execute(f"PRAGMA temp_store = {int(temp_store)}")


class ProjectionRunner:
    """Feeds events from the notification log to projectors, from each one's own position."""

    def __init__(
        self,
        store: Application[Any],
        connection: sqlite3.Connection,
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
                with immediate(self.connection) as cursor:
                    processed = self._process_batch(cursor)
                total += processed
                if processed < BATCH_SIZE:
                    return total

    def rebuild(self, *, until: int | None = None) -> int:
        """Drop every read model and project the log again from position 0, atomically.

        Readers keep seeing the old read models until the rebuild commits.
        """
        total = 0
        with projecting(self.connection, rebuild=True), immediate(self.connection) as cursor:
            schema.migrate(cursor)
            for projector in self.projectors:
                schema.drop_tables(cursor, projector.spec)
                schema.create_tables(cursor, projector.spec, indexes=False)
                schema.reset_position(cursor, projector.spec)
            while True:
                processed = self._process_batch(cursor, until=until)
                total += processed
                if processed < BATCH_SIZE:
                    break
            for projector in self.projectors:
                schema.create_indexes(cursor, projector.spec)
        return total

    def _process_batch(self, cursor: sqlite3.Cursor, until: int | None = None) -> int:
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
