"""The event store: an eventsourcing Application over SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import Mapper, Recording, Transcoder
from eventsourcing.utils import Environment, EnvType, register_topic

from domain.stack import Stack, StackSnapshot
from infrastructure.mapping import OrjsonTranscoder, PydanticMapper
from infrastructure.sqlite import BUSY_TIMEOUT_SECONDS

SNAPSHOT_INTERVAL = 100
"""Take a library-level snapshot of a stack every this many events."""

# Library snapshots are stored under a stable topic, like events.
register_topic(StackSnapshot.TOPIC, StackSnapshot)


class StackStore(Application[UUID]):
    """Stores every stack's events; loads stacks from their latest snapshot onwards."""

    name = "SlothRunner"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Stack: SNAPSHOT_INTERVAL}

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
        recordings = super()._record(processing_event)
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                cache.put(aggregate_id, aggregate)
        return recordings


def sqlite_environment(path: Path, *, create_tables: bool) -> dict[str, str]:
    """The eventsourcing environment for a SQLite file."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": str(BUSY_TIMEOUT_SECONDS),
        "CREATE_TABLE": "y" if create_tables else "n",
        "AGGREGATE_CACHE_MAXSIZE": "256",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }


def open_sqlite_store(path: Path, *, create_tables: bool) -> StackStore:
    """An event store on a prepared SQLite file."""
    return StackStore(env=sqlite_environment(path, create_tables=create_tables))


def open_postgres_store(url: str, *, create_tables: bool) -> StackStore:
    """An event store in a PostgreSQL database, checked to be reachable first."""
    from infrastructure import postgres

    target = postgres.parse_database_url(url)
    arguments = target.connect_arguments()
    postgres.check_connection(arguments)
    with postgres.reported_failures(arguments):
        return StackStore(env=target.environment(create_tables=create_tables))
