"""The event store: an eventsourcing Application over SQLite or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections import deque
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import (
    Mapper,
    Notification,
    PersistenceError,
    Recording,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType, register_topic

import domain.hooks  # noqa: F401 -- registers the hook events' topics, so the log decodes
from domain.stack import Stack
from domain.stack_memento import StackSnapshot
from infrastructure.errors import ReadOnlyDatabase
from infrastructure.mapping import OrjsonTranscoder, PydanticMapper
from infrastructure.sqlite import BUSY_TIMEOUT_SECONDS, CHOOSE_ANOTHER, DatabaseFile

_SQLITE_READONLY = 8

RECORDED_KEPT = 10_000
SNAPSHOT_INTERVAL = 100
"""Take a library-level snapshot of a stack every this many events."""

# Library snapshots are stored under a stable topic, like events.
register_topic(StackSnapshot.TOPIC, StackSnapshot)


class StackStore(Application[UUID]):
    """Stores every stack's events; loads stacks from their latest snapshot onwards."""

    name = "SlothRunner"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Stack: SNAPSHOT_INTERVAL}
    database: DatabaseFile | None = None
    """The file the store is on, to name it when a write is refused."""
    recorded: deque[Notification] | None = None
    """The latest events this process recorded, in order, for delivering them to hooks right
    after the command that wrote them (None until the first write). Bounded: the hooks'
    own tracking, not this, is what makes sure every event is delivered."""

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only the given settings: eventsourcing would also read the process environment,
        where a stray POSTGRES_HOST or SLOTHRUNNER_SQLITE_DBNAME could redirect the store."""
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=PydanticMapper
        )

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record, then keep the saved stacks in the cache: they are what was just written.

        Loading fast-forwards a cached stack from the log anyway (other processes write too),
        so this only spares re-reading and decoding our own events on the next command.
        """
        try:
            recordings = super()._record(processing_event)
        except PersistenceError as exc:
            if not _is_read_only(exc):
                raise
            raise self._refused_write(exc) from None
        if self.recorded is None:
            self.recorded = deque(maxlen=RECORDED_KEPT)
        self.recorded.extend(recording.notification for recording in recordings)
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                cache.put(aggregate_id, aggregate)
        return recordings

    def _refused_write(self, error: PersistenceError) -> ReadOnlyDatabase:
        where = (self.database.describe_read_only()
                 if self.database is not None and not self.database.writable
                 else f"the database is read-only ({error})")
        return ReadOnlyDatabase(f"cannot record the change: {where}; ask for write access, "
                                f"or {CHOOSE_ANOTHER}")


def _is_read_only(error: PersistenceError) -> bool:
    """SQLite refused a write because the file, its directory or the connection is read-only."""
    cause = error.__cause__
    code = getattr(cause, "sqlite_errorcode", 0) if isinstance(cause, sqlite3.Error) else 0
    return code & 0xFF == _SQLITE_READONLY


def sqlite_environment(name: Path | str, *, create_tables: bool) -> dict[str, str]:
    """The eventsourcing environment for a SQLite file (its path, or a URI)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(name),
        "SQLITE_LOCK_TIMEOUT": str(BUSY_TIMEOUT_SECONDS),
        "CREATE_TABLE": "y" if create_tables else "n",
        "AGGREGATE_CACHE_MAXSIZE": "256",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }


def open_sqlite_store(database: DatabaseFile, *, create_tables: bool) -> StackStore:
    """An event store on a checked SQLite file; read-only when this process may not write it."""
    store = StackStore(env=sqlite_environment(database.connection_name(),
                                              create_tables=create_tables))
    store.database = database
    return store


def open_postgres_store(url: str, *, create_tables: bool) -> StackStore:
    """An event store in a PostgreSQL database, checked to be reachable first."""
    from infrastructure import postgres

    target = postgres.parse_database_url(url)
    arguments = target.connect_arguments()
    postgres.check_connection(arguments)
    with postgres.reported_failures(arguments):
        return StackStore(env=target.environment(create_tables=create_tables))
