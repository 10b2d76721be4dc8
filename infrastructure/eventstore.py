"""The event store: an eventsourcing Application over SQLite or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    Notification,
    PersistenceError,
    Recording,
    StoredEvent,
    Transcoder,
)
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import Environment, EnvType, register_topic

import domain.hooks  # noqa: F401 -- registers the hook events' topics, so the log decodes
from domain.audit_log import AuditLog
from domain.stack import Stack
from domain.stack_memento import StackSnapshot
from domain.tokens import ApiToken
from infrastructure.errors import DatabaseUnusable, ReadOnlyDatabase
from infrastructure.mapping import OrjsonTranscoder, PydanticMapper
from infrastructure.sqlite import BUSY_TIMEOUT_SECONDS, CHOOSE_ANOTHER, DatabaseFile

_SQLITE_READONLY = 8

RECORDED_KEPT = 10_000
SNAPSHOT_INTERVAL = 100
"""Take a library-level snapshot of a stack every this many events."""

BULK_CHUNK = 500
"""How many stacks one bulk read asks for at a time."""

# Library snapshots are stored under a stable topic, like events.
register_topic(StackSnapshot.TOPIC, StackSnapshot)

AGGREGATES = (Stack, ApiToken, AuditLog)
"""Every aggregate type the store holds (defining one registers its events' topics)."""


def replay(aggregate: Any, events: Iterable[DomainEventProtocol[UUID]]) -> Any:
    """Apply each event to the aggregate in turn: the library's aggregate projector, without
    its per-event runtime protocol check (tens of microseconds an event on Python 3.11,
    about a third of the time of loading a stack). Every stored event here can mutate."""
    for event in events:
        aggregate = cast(Any, event).mutate(aggregate)
    return aggregate


class StackRepository(Repository[UUID]):
    """The library's repository, replaying stacks with `replay`."""

    def get(self, aggregate_id: UUID, *, version: int | None = None,
            projector_func: Any = replay, fastforward_skipping: bool = False,
            deepcopy_from_cache: bool = True) -> Any:
        return super().get(aggregate_id, version=version, projector_func=projector_func,
                           fastforward_skipping=fastforward_skipping,
                           deepcopy_from_cache=deepcopy_from_cache)


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

    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {Stack: replay}

    def construct_repository(self) -> Repository[UUID]:
        library = super().construct_repository()
        return StackRepository(
            event_store=library.event_store, snapshot_store=library.snapshot_store,
            cache_maxsize=int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 0) or None,
            fastforward=library.fastforward,
            fastforward_skipping=library.fastforward_skipping,
            deepcopy_from_cache=library.deepcopy_from_cache)

    def get_many(self, ids: Sequence[UUID]) -> dict[UUID, Stack]:
        """The stacks with these ids as they are now (those that exist), read in bulk.

        Loading thousands of stacks one by one costs a query (and a transaction) each; here
        each chunk of ids costs two: their latest library snapshots, and the events after.
        """
        datastore = getattr(self.recorder, "datastore", None)
        if not isinstance(datastore, SQLiteDatastore):  # another backend: one by one
            found: dict[UUID, Stack] = {}
            for aggregate_id in ids:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    continue
            return found
        stacks: dict[UUID, Stack] = {}
        for start in range(0, len(ids), BULK_CHUNK):
            stacks.update(self._read_chunk(datastore, ids[start:start + BULK_CHUNK]))
        return stacks

    def _read_chunk(self, datastore: SQLiteDatastore, ids: Sequence[UUID]) -> dict[UUID, Stack]:
        keys = [aggregate_id.hex for aggregate_id in ids]
        marks = ", ".join("?" * len(keys))
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT originator_id, MAX(originator_version), topic, state"
                f" FROM stored_snapshots WHERE originator_id IN ({marks})"
                " GROUP BY originator_id", keys)
            snapshots = {row[0]: tuple(row) for row in cursor.fetchall()}
            wanted = ", ".join(["(?, ?)"] * len(keys))
            after: list[Any] = []
            for key in keys:
                after += [key, snapshots[key][1] if key in snapshots else 0]
            cursor.execute(
                f"WITH wanted (id, after) AS (VALUES {wanted})"
                " SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM wanted JOIN stored_events e ON e.originator_id = wanted.id"
                " AND e.originator_version > wanted.after"
                " ORDER BY e.originator_id, e.originator_version", after)
            events = [tuple(row) for row in cursor.fetchall()]
        stacks: dict[UUID, Stack] = {}
        for key, rows in groupby(events, key=lambda row: row[0]):
            aggregate_id = UUID(key)
            stacks[aggregate_id] = self._replayed(aggregate_id, snapshots.pop(key, None), rows)
        for key, snapshot in snapshots.items():  # no event since its snapshot
            aggregate_id = UUID(key)
            stacks[aggregate_id] = self._replayed(aggregate_id, snapshot, ())
        return stacks

    def _replayed(self, aggregate_id: UUID, snapshot: tuple[Any, ...] | None,
                  rows: Iterable[tuple[Any, ...]]) -> Stack:
        stored = ([snapshot] if snapshot is not None else []) + list(rows)
        return cast(Stack, replay(None, (
            self.mapper.to_domain_event(StoredEvent(
                originator_id=aggregate_id, originator_version=row[1], topic=row[2],
                state=row[3])) for row in stored)))

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

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """One library snapshot per saved aggregate whose new events crossed an interval,
        taken of the aggregate as saved.

        eventsourcing takes one per crossing, each by replaying the stream to it: a write of
        thousands of events at once (a Terraform state with thousands of resources) would
        cost time quadratic in its size.
        """
        if not self.snapshots:
            return
        crossed = {event.originator_id for event in processing_event.events
                   if (interval := self.snapshotting_intervals.get(
                       type(processing_event.aggregates.get(event.originator_id))))
                   and event.originator_version % interval == 0}
        for aggregate_id in crossed:
            aggregate = processing_event.aggregates[aggregate_id]
            snapshot_class = getattr(type(aggregate), "Snapshot", None) or self.snapshot_class
            if snapshot_class is not None:
                self.snapshots.put([snapshot_class.take(aggregate)])

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


def sqlite_environment(name: Path | str, *, create_tables: bool,
                       chained: bool = True) -> dict[str, str]:
    """The eventsourcing environment for a SQLite file (its path, or a URI). `chained=False`
    stores events without their links (`infrastructure.eventchain`): only for measuring."""
    from infrastructure.sqlite_persistence import CHAINED

    return {
        "PERSISTENCE_MODULE": "infrastructure.sqlite_persistence:StackSQLiteFactory",
        CHAINED: "y" if chained else "n",
        "SQLITE_DBNAME": str(name),
        "SQLITE_LOCK_TIMEOUT": str(BUSY_TIMEOUT_SECONDS),
        "CREATE_TABLE": "y" if create_tables else "n",
        "AGGREGATE_CACHE_MAXSIZE": "256",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }


def open_sqlite_store(database: DatabaseFile, *, create_tables: bool,
                      cipher: dict[str, str] | None = None) -> StackStore:
    """An event store on a checked SQLite file; read-only when this process may not write it.

    `cipher` (eventsourcing's CIPHER_TOPIC and CIPHER_KEY) encrypts every event body.
    """
    store = StackStore(env={**sqlite_environment(database.connection_name(),
                                                 create_tables=create_tables), **(cipher or {})})
    store.database = database
    check_encryption(store, encrypted=bool(cipher))
    return store


def check_encryption(store: StackStore, *, encrypted: bool) -> None:
    """Refuse a store whose stored events are not as the settings say (plain or encrypted):
    the library's cipher cannot read the other kind, and mixing them would lose events."""
    from eventsourcing.persistence import PersistenceError

    from infrastructure.secrets import SecretKeyError, stored_in_plain_text

    try:
        first = store.recorder.select_notifications(start=1, limit=1)
    except (DatabaseUnusable, PersistenceError):  # no tables yet: the store's first use
        return  # reports it as it should
    if not first:
        return
    plain = stored_in_plain_text(first[0].state)
    where = store.database.path if store.database is not None else "the database"
    if encrypted and plain:
        raise SecretKeyError(f"{where} holds events in plain text; stacks.encrypt_events "
                             "applies to a new database only")
    if not encrypted and not plain:
        raise SecretKeyError(f"the events in {where} are encrypted: set stacks.encrypt_events "
                             "and its key to read them")
    if encrypted:
        try:
            store.mapper.to_domain_event(first[0])
        except Exception:
            raise SecretKeyError(f"the events in {where} are encrypted with another key than "
                                 "the events key given") from None


def open_postgres_store(url: str, *, create_tables: bool, checked: bool = False,
                        cipher: dict[str, str] | None = None) -> StackStore:
    """An event store in a PostgreSQL database, checked to be reachable first (unless the
    caller has just `checked`: connected to it). `cipher` as for SQLite."""
    from infrastructure import postgres

    target = postgres.parse_database_url(url)
    arguments = target.connect_arguments()
    if not checked:
        postgres.check_connection(arguments)
    with postgres.reported_failures(arguments):
        store = StackStore(env={**target.environment(create_tables=create_tables),
                                **(cipher or {})})
        check_encryption(store, encrypted=bool(cipher))
        return store
