"""eventsourcing's PostgreSQL persistence, fitted to a command-line tool.

`infrastructure.postgres.PostgresTarget.environment()` names the factory here as the
persistence module. It differs from eventsourcing's own in these ways:

- A command gives up as soon as the server cannot be reached. eventsourcing retries a failed
  recorder call ten times, and each try waits for the pool's whole connect timeout, so a
  stopped server would hold a command for about a minute. Here a connection that broke is
  retried at once (the pool replaces it), and a pool that cannot connect ends the command
  with `DatabaseUnavailable` (exit 75), saying why.
- Creating the tables is skipped when they exist, and otherwise serialised with an advisory
  lock: concurrent `CREATE TABLE IF NOT EXISTS` and `CREATE OR REPLACE FUNCTION` statements
  fail with unique-violation or "tuple concurrently updated" errors when two first runs race.
- A database that answers but refuses the work (no such table, no privilege) is reported as
  `DatabaseUnusable` (exit 2) rather than as an internal error.
- Connection parameters eventsourcing does not pass (sslmode, connect_timeout, ...) are
  added to the pool's connection arguments.
- Appending takes the events table's lock and inserts in three round trips, without the
  library's pipeline and its NOTIFY (nothing listens: catching up polls the log).
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from types import MethodType
from typing import Any, TypeVar
from urllib.parse import parse_qsl
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg.sql import SQL
from psycopg_pool import PoolTimeout

from infrastructure import eventchain, postgres
from infrastructure.eventchain import CHAIN_TABLE, ChainSql, Link, Seal

T = TypeVar("T")
RETRY_WAIT_SECONDS = 0.2


def _undecorated(method: Callable[..., T]) -> Callable[..., T]:
    """A recorder method without eventsourcing's retry decorator, bound to the same recorder."""
    assert isinstance(method, MethodType)
    function: Callable[..., T] = inspect.unwrap(method.__func__)
    return MethodType(function, method.__self__)


class _ReportingRecorder(PostgresAggregateRecorder):
    """Failures reported as what they mean for the user; tables created under a lock."""

    def connect_arguments(self) -> dict[str, Any]:
        """The arguments the pool connects with (for asking the server again)."""
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        return {key: value for key, value in kwargs.items() if key != "row_factory"}

    def _attempt(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call, retrying on a broken connection: after a server restart every pooled
        connection may be broken, so as many tries as the pool holds, and one more."""
        call = _undecorated(method)
        attempts = self.datastore.pool.max_size + 1
        attempt = 1
        while True:
            try:
                return call(*args, **kwargs)
            except IntegrityError:
                raise  # a conflict: the caller reloads and decides again
            except (InterfaceError, OperationalError) as exc:
                if attempt >= attempts or isinstance(exc.__cause__, PoolTimeout):
                    raise postgres.operation_failure(self.connect_arguments(), exc) from exc
            except PersistenceError as exc:
                raise postgres.unusable(self.connect_arguments(), exc) from exc
            attempt += 1
            time.sleep(RETRY_WAIT_SECONDS)

    def create_table(self) -> None:
        """Create the table unless it exists: the DDL needs privileges (CREATE on the schema,
        owning the insert function) that a role which only reads and appends lacks."""
        with self.datastore.get_connection() as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                [self.datastore.schema, self.events_table_name]).fetchone()
        if exists:
            return
        with self.datastore.get_connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", [postgres.SCHEMA_LOCK_KEY])
            try:
                super().create_table()
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", [postgres.SCHEMA_LOCK_KEY])

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        ids: Sequence[int] | None = self._attempt(super().insert_events, stored_events, **kwargs)
        return ids

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> Sequence[StoredEvent]:
        return self._attempt(super().select_events, originator_id, gt=gt, lte=lte, desc=desc,
                             limit=limit)


class StackAggregateRecorder(_ReportingRecorder):
    """Stores the library's aggregate snapshots."""


class StackApplicationRecorder(_ReportingRecorder, PostgresApplicationRecorder):
    """Stores the events, numbered in commit order for the notification log."""

    chained = True
    """Whether appends write their links (`infrastructure.eventchain`); off only to measure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_in_turn = SQL("; ").join([SQL("BEGIN"), *self.lock_table_statements])
        self.chain_sql = ChainSql(events_table=self.events_table_name,
                                  position_column="notification_id", marker="%s",
                                  integer="BIGINT", blob="BYTEA")

    def create_table(self) -> None:
        """The events table (unless it exists), and the chain's table beside it: a database
        made before the chain existed gets it on its next migration."""
        super().create_table()
        with self.datastore.get_connection() as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                [self.datastore.schema, CHAIN_TABLE]).fetchone()
            if exists:
                return
            connection.execute("SELECT pg_advisory_lock(%s)", [postgres.SCHEMA_LOCK_KEY])
            try:
                connection.execute(self.chain_sql.create_table().encode())
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", [postgres.SCHEMA_LOCK_KEY])

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        seal: Seal | None = kwargs.pop("seal", None)
        if any(value is not None for value in kwargs.values()):
            # a tracking record, which this application does not write
            return super().insert_events(stored_events, **kwargs)
        ids: Sequence[int] = self._attempt(self._insert_in_turn, stored_events, seal)
        return ids

    def _insert_in_turn(self, stored_events: Sequence[StoredEvent],
                        seal: Seal | None = None) -> Sequence[int]:
        """Append in one transaction that takes the events table's EXCLUSIVE lock first, so
        that positions are handed out in commit order (see eventsourcing's `_lock_table`),
        and link the events into the chain in the same transaction: the lock serialises
        appends, so the chain's newest link read here is the one these follow.

        The library's own insert does the same in pipeline mode, with a NOTIFY nobody here
        listens to (catching up polls the log); this costs three round trips, half its time.
        """
        if not stored_events:
            return []
        events = [self.construct_pg_stored_event(e.originator_id, e.originator_version,
                                                 e.topic, e.state) for e in stored_events]
        with self.datastore.get_connection() as connection:
            try:
                connection.execute(self._begin_in_turn)
                with connection.cursor() as cursor:
                    # (the library's statement, ending in RETURNING notification_id)
                    cursor.execute(self.insert_events_statement, (events,), prepare=True)
                    ids = list(self._fetch_ids_after_insert_events(cursor, stored_events) or ())
                with connection.cursor(row_factory=tuple_row) as cursor:
                    if seal is not None:
                        eventchain.write_seal(cursor, self.chain_sql, seal)
                    elif self.chained:
                        eventchain.append_links(cursor, self.chain_sql, [
                            (position, event.originator_id.hex
                             if isinstance(event.originator_id, UUID)
                             else str(event.originator_id),
                             event.originator_version, event.topic, bytes(event.state))
                            for position, event in zip(ids, stored_events, strict=True)])
                connection.execute(SQL("COMMIT"))
            except BaseException:
                _roll_back(connection)
                raise
        return ids

    # ---- reading the chain (see infrastructure.eventlog) --------------------------------

    def _rows(self, statement: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._attempt(self._read_rows, statement, parameters)
        return rows

    def _read_rows(self, statement: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as connection, connection.cursor(
                row_factory=tuple_row) as cursor:
            cursor.execute(statement.encode(), parameters)
            return cursor.fetchall()

    def select_linked_events(self, after: int, limit: int) -> list[Any]:
        return self._rows(self.chain_sql.select_linked_events(), (after, limit))

    def select_orphan_links(self, after: int, until: int | None) -> list[Link]:
        return [Link(*row) for row in self._rows(self.chain_sql.select_orphan_links(),
                                                 (after, until if until is not None
                                                  else 2**63 - 1))]

    def select_links(self, after: int, until: int | None) -> list[Link]:
        return [Link(row[0], row[1], bytes(row[2])) for row in self._rows(
            self.chain_sql.select_links(), (after, until if until is not None else 2**63 - 1))]

    def link_before(self, position: int) -> Link | None:
        found = self._rows(self.chain_sql.link_before(), (position,))
        return Link(found[0][0], found[0][1], bytes(found[0][2])) if found else None

    def is_chained(self) -> bool:
        return bool(self._rows(self.chain_sql.any_link(), ()))

    def last_position_of(self, originator_id: str) -> int | None:
        found = self._rows(self.chain_sql.last_of(), (UUID(originator_id),))
        return int(found[0][0]) if found and found[0][0] is not None else None

    def plan_seal(self) -> Seal | None:
        planned: Seal | None = self._attempt(self._plan_seal)
        return planned

    def _plan_seal(self) -> Seal | None:
        with self.datastore.get_connection() as connection, connection.cursor(
                row_factory=tuple_row) as cursor:
            return eventchain.plan_seal(cursor, self.chain_sql)

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]:
        return self._attempt(super().select_notifications, start, limit, stop, topics,
                             inclusive_of_start=inclusive_of_start)

    def max_notification_id(self) -> int | None:
        maximum: int | None = self._attempt(super().max_notification_id)
        return maximum


def _roll_back(connection: Connection[Any]) -> None:
    """End a failed append's transaction, unless the connection went with it (the pool
    then replaces it)."""
    if connection.closed or connection.broken:
        return
    if connection.pgconn.transaction_status != TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            connection.execute(SQL("ROLLBACK"))


class StackPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the recorders above."""

    aggregate_recorder_class = StackAggregateRecorder
    application_recorder_class = StackApplicationRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        kwargs = self.datastore.pool.kwargs
        assert isinstance(kwargs, dict)
        kwargs.update(parse_qsl(self.env.get(postgres.LIBPQ_PARAMETERS) or ""))
