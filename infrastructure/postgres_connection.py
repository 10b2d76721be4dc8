"""Read-model connections to PostgreSQL: the read side's portable SQL, run through psycopg 3.

`PostgresConnection` is the PostgreSQL `infrastructure.sql.Connection`: statements written
with `?` parameters are rewritten once each to psycopg's `%s` (a literal `%` doubled), rows
come back as tuples, and failures become what they mean for the user: a server that cannot
be reached or went away is `DatabaseUnavailable` (exit 75), a missing privilege
`DatabaseUnusable` (exit 2).

The connection is the read side's own (autocommit, tuple rows), not one of the event store's
pool. A write transaction takes an advisory lock, so projection batches of concurrent
processes take turns as they do on SQLite under `BEGIN IMMEDIATE`; readers are never blocked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg

from infrastructure import postgres
from infrastructure.sql import POSTGRES, Dialect, translate

READ_MODEL_LOCK_KEY = 0x5106_7E5C_4D52
"""The advisory lock a read-model write transaction holds (the counterpart of SQLite's
write lock under BEGIN IMMEDIATE); released when the transaction ends."""
IDLE_IN_TRANSACTION_SECONDS = 15
"""A process stopped inside a projection transaction must not hold the lock for long."""
_BEGIN_WRITE = (f"BEGIN; SET LOCAL lock_timeout = '{postgres.LOCK_TIMEOUT_SECONDS}s';"
                f" SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({READ_MODEL_LOCK_KEY})")

class PostgresCursor:
    """A psycopg cursor that speaks the read side's SQL (`infrastructure.sql.Cursor`)."""

    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection: PostgresConnection, cursor: psycopg.Cursor[Any]) -> None:
        self._connection = connection
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, parameters: Any = (), /) -> PostgresCursor:
        try:
            self._cursor.execute(translate(sql), tuple(parameters))
        except psycopg.Error as exc:
            raise self._connection.failure(exc) from exc
        return self

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> PostgresCursor:
        rows = [tuple(row) for row in parameters]
        if len(rows) == 1:  # psycopg's executemany pipelines: worth it for more than one
            return self.execute(sql, rows[0])
        if rows:
            try:
                self._cursor.executemany(translate(sql), rows)
            except psycopg.Error as exc:
                raise self._connection.failure(exc) from exc
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PostgresConnection:
    """A read-model connection to one PostgreSQL database (`infrastructure.sql.Connection`)."""

    dialect: Dialect = POSTGRES

    def __init__(self, target: postgres.PostgresTarget) -> None:
        self.target = target
        self.arguments = target.connect_arguments()
        self._raw: psycopg.Connection[Any] | None = None
        self._in_transaction = False
        self._connect()

    def describe(self) -> str:
        """`host:port/dbname`, for messages: never the password."""
        return self.target.describe()

    def _connect(self) -> psycopg.Connection[Any]:
        postgres.quiet_driver_logs()
        try:
            raw = psycopg.connect(**self.arguments, autocommit=True)
        except psycopg.Error as exc:
            raise postgres.connection_failure(self.arguments, exc) from None
        try:
            # The event store's tables are in `public`; the read models go beside them,
            # whatever schema a role's own search path would name first.
            raw.execute("SET search_path TO public; SET idle_in_transaction_session_timeout"
                        f" = '{IDLE_IN_TRANSACTION_SECONDS}s'")
        except psycopg.Error as exc:
            raw.close()
            raise postgres.operation_failure(self.arguments, exc) from exc
        self._raw = raw
        return raw

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection: a broken one (the server restarted, an administrator ended
        the session) is replaced between transactions, as the event store's pool does."""
        raw = self._raw
        if raw is None or raw.closed or raw.broken:
            if raw is not None:
                raw.close()
            raw = self._connect()
        return raw

    def failure(self, exc: psycopg.Error) -> Exception:
        """What a failed statement means for the user (an error of ours is left as it is)."""
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return postgres.operation_failure(self.arguments, exc)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return postgres.unusable(self.arguments, exc)
        return exc

    def cursor(self) -> PostgresCursor:
        raw = self._raw if self._in_transaction and self._raw is not None else (
            self._connection())
        return PostgresCursor(self, raw.cursor())

    def execute(self, sql: str, parameters: Any = (), /) -> PostgresCursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> PostgresCursor:
        return self.cursor().executemany(sql, parameters)

    @contextmanager
    def write_transaction(self) -> Iterator[PostgresCursor]:
        """BEGIN, then the read models' advisory lock (waiting for another process's batch,
        for at most the lock timeout); committed without waiting for the disk, like SQLite's
        `synchronous=NORMAL`: read models are redone from the durable log after a crash."""
        cursor = self.cursor()
        try:
            # One round trip (no parameters: sent as one simple query).
            self._raw_execute(_BEGIN_WRITE)
        except BaseException:
            self._rollback()
            raise
        self._in_transaction = True
        try:
            yield cursor
        except BaseException:
            self._in_transaction = False
            self._rollback()
            raise
        self._in_transaction = False
        cursor.execute("COMMIT")

    def _raw_execute(self, statement: str) -> None:
        raw = self._raw
        assert raw is not None  # connected by cursor()
        try:
            raw.execute(statement.encode())
        except psycopg.Error as exc:
            raise self.failure(exc) from exc

    def _rollback(self) -> None:
        raw = self._raw
        if raw is None or raw.closed or raw.broken:
            return  # the server ended the transaction with the connection
        try:
            raw.execute("ROLLBACK")
        except psycopg.Error:
            raw.close()  # replaced by the next statement's connection

    def bulk_writes(self, *, rebuild: bool = False) -> nullcontext[None]:
        """Nothing to tune: the server's buffers are the administrator's business."""
        return nullcontext()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


def connect(url: str) -> PostgresConnection:
    """A read-model connection to the database the URL names; raises what a failure means."""
    return PostgresConnection(postgres.parse_database_url(url))
