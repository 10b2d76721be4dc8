"""The seam between the read side and the database it runs on: SQLite or PostgreSQL.

Projectors, queries, schema migrations and the projection runner are written once, against
the `Connection` and `Cursor` protocols here, with portable SQL: `?` parameters, upserts as
`INSERT ... ON CONFLICT`, no SQLite-only functions. A SQLite connection (`infrastructure.sqlite`)
is a `sqlite3.Connection` that also has `write_transaction()`; a PostgreSQL one
(`infrastructure.postgres_connection`) wraps psycopg, turning `?` into `%s`. What cannot be one
text is a `Dialect` member: the write transaction, the schema version, the ownership mark,
the events table, and the DDL types.

Only the standard library is imported here: this is on the start-up path of read commands.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from uuid import UUID

META_TABLE = "sloth_runner_meta"
META_DDL = (f"CREATE TABLE IF NOT EXISTS {META_TABLE} ("
            " key TEXT PRIMARY KEY,"
            " value TEXT NOT NULL)")
SCHEMA_VERSION_KEY = "schema_version"


class Cursor(Protocol):
    """What the read side does with a cursor (a `sqlite3.Cursor` is one)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A read-model connection: statements run in autocommit mode unless inside
    `write_transaction()`, which serialises writers across processes."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def write_transaction(self) -> AbstractContextManager[Cursor]:
        """A transaction that holds the read models' write lock from its start, committed
        when the block ends and rolled back if it raises."""
        ...

    def bulk_writes(self, *, rebuild: bool = False) -> AbstractContextManager[None]:
        """The connection tuned for writing many rows (every table, to `rebuild`)."""
        ...

    def close(self) -> None: ...


class Dialect(ABC):
    """What differs between the backends beyond the connection itself."""

    name: str
    """`sqlite` or `postgresql`."""
    events_table: str
    """The event store's table of events."""
    position_column: str
    """Its column holding an event's position in the log."""
    snapshots_table: str
    """The event store's table of the library's aggregate snapshots (a cache)."""

    def ddl(self, statement: str) -> str:
        """A `CREATE` statement of `projections.schema` as this backend needs it."""
        return statement

    @abstractmethod
    def schema_version(self, cursor: Cursor | Connection) -> int:
        """The read-model schema version recorded in the database (0: none yet)."""

    @abstractmethod
    def set_schema_version(self, cursor: Cursor, version: int) -> None:
        """Record the read-model schema version (in the transaction that migrated)."""

    @abstractmethod
    def require_ours(self, cursor: Cursor) -> None:
        """Refuse to go on unless the database carries our mark (before dropping tables)."""

    @abstractmethod
    def stored_id(self, originator_id: UUID) -> Any:
        """An aggregate id as the event store's tables hold it."""

    def lock_events(self, cursor: Cursor) -> None:  # noqa: B027 -- SQLite needs nothing
        """Keep the event store's writers out until the transaction ends (in a write
        transaction; on SQLite, BEGIN IMMEDIATE has done it)."""

    def positions_written(self, cursor: Cursor, last: int) -> None:  # noqa: B027
        """After events were written with explicit positions, up to `last`: make the next
        appended event's position follow them (SQLite's rowid does by itself)."""


class SQLiteDialect(Dialect):
    """SQLite: the schema version is `PRAGMA user_version`, the mark `PRAGMA application_id`."""

    name = "sqlite"
    events_table = "stored_events"
    position_column = "rowid"
    snapshots_table = "stored_snapshots"

    def schema_version(self, cursor: Cursor | Connection) -> int:
        return int(cursor.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, cursor: Cursor, version: int) -> None:
        cursor.execute(f"PRAGMA user_version = {int(version)}")

    def require_ours(self, cursor: Cursor) -> None:
        from infrastructure.ownership import require_ours

        require_ours(cursor)

    def stored_id(self, originator_id: UUID) -> str:
        return originator_id.hex


_INTEGER = re.compile(r"\bINTEGER\b")
_TEXT = re.compile(r"\bTEXT\b")


class PostgresDialect(Dialect):
    """PostgreSQL: the schema version and the mark are rows of our metadata table."""

    name = "postgresql"
    events_table = "slothrunner_events"
    position_column = "notification_id"
    snapshots_table = "slothrunner_snapshots"

    def ddl(self, statement: str) -> str:
        """64-bit integers (INTEGER is 32-bit on PostgreSQL, and log positions outgrow it),
        and text compared and sorted by code point, as SQLite does, whatever the database's
        locale (a locale's collation would also order ISO timestamps with their punctuation
        ignored)."""
        return _TEXT.sub('TEXT COLLATE "C"', _INTEGER.sub("BIGINT", statement))

    def schema_version(self, cursor: Cursor | Connection) -> int:
        row = cursor.execute(f"SELECT value FROM {META_TABLE} WHERE key = ?",
                             (SCHEMA_VERSION_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, cursor: Cursor, version: int) -> None:
        cursor.execute(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (SCHEMA_VERSION_KEY, str(int(version))))

    def require_ours(self, cursor: Cursor) -> None:
        from infrastructure.postgres_ownership import require_ours

        require_ours(cursor)

    def stored_id(self, originator_id: UUID) -> UUID:
        return originator_id

    def lock_events(self, cursor: Cursor) -> None:
        """The lock every append takes (eventsourcing's recorder), so positions stay in
        commit order."""
        cursor.execute(f"LOCK TABLE {self.events_table} IN EXCLUSIVE MODE")

    def positions_written(self, cursor: Cursor, last: int) -> None:
        cursor.execute("SELECT setval(pg_get_serial_sequence(?, ?), ?)",
                       (self.events_table, self.position_column, max(last, 1)))


_statements: dict[str, str] = {}


def translate(sql: str) -> str:
    """The statement with `?` parameters as psycopg's `%s` and every literal `%` doubled (for
    PostgreSQL; cached, statements being few and repeated).

    A `?` inside quotes ('...' or "...") is text and is kept; a `%` anywhere is doubled,
    because psycopg reads placeholders in quoted text too.
    """
    translated = _statements.get(sql)
    if translated is not None:
        return translated
    parts: list[str] = []
    quote = ""
    for character in sql:
        if character == "%":
            parts.append("%%")
            continue
        if quote:
            if character == quote:
                quote = ""
        elif character in "'\"":
            quote = character
        elif character == "?":
            parts.append("%s")
            continue
        parts.append(character)
    translated = _statements[sql] = "".join(parts)
    return translated


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()
