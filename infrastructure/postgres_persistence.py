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
from psycopg.sql import SQL
from psycopg_pool import PoolTimeout

from infrastructure import postgres

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_in_turn = SQL("; ").join([SQL("BEGIN"), *self.lock_table_statements])

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if any(value is not None for value in kwargs.values()):
            # a tracking record, which this application does not write
            return super().insert_events(stored_events, **kwargs)
        ids: Sequence[int] = self._attempt(self._insert_in_turn, stored_events)
        return ids

    def _insert_in_turn(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        """Append in one transaction that takes the events table's EXCLUSIVE lock first, so
        that positions are handed out in commit order (see eventsourcing's `_lock_table`).

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
                    ids = self._fetch_ids_after_insert_events(cursor, stored_events)
                connection.execute(SQL("COMMIT"))
            except BaseException:
                _roll_back(connection)
                raise
        return list(ids or ())

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
