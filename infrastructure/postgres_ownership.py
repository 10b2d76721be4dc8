"""Whose PostgreSQL database it is: the counterpart of SQLite's `application_id` mark.

A database is ours when the `public` schema (where the event store's tables live) holds our
metadata table with our `application` row. An empty schema becomes ours. A schema holding
only the event store's two tables, every topic a dotted event name, was written by an
earlier release (before read models lived in PostgreSQL) and is marked. Anything else is
refused, and nothing in it is created, changed or dropped.

Written against `infrastructure.sql.Connection`: no psycopg import.
"""

from __future__ import annotations

from infrastructure.errors import ForeignDatabase
from infrastructure.ownership import APPLICATION, Inspection, Owner, mark_rows
from infrastructure.sql import META_DDL, META_TABLE, POSTGRES, Connection, Cursor

SCHEMA = "public"
EVENT_STORE_TABLES = frozenset({"slothrunner_events", "slothrunner_snapshots"})
_TABLES_NAMED = 8
_DOTTED = "^[a-z][^:]*[.][a-z][^:]*$"
"""Our topics (`stack.created`); another eventsourcing application stores `module:Class`."""


def is_ours(connection: Connection) -> bool:
    """Whether the database carries our mark (two quick queries; nothing is locked)."""
    present = connection.execute("SELECT to_regclass(?) IS NOT NULL",
                                 (f"{SCHEMA}.{META_TABLE}",)).fetchone()[0]
    return bool(present) and _application(connection) == APPLICATION


def _application(connection: Connection | Cursor) -> str | None:
    row = connection.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'application'"
                             ).fetchone()
    return str(row[0]) if row else None


def claim(connection: Connection, where: str) -> Owner:
    """Check the database is ours, marking it when it is empty or an earlier release's;
    raise ForeignDatabase (nothing changed) otherwise. Returns what it was.

    Looked at again under the read models' write lock, so two first runs mark it once.
    """
    if is_ours(connection):
        return Owner.OURS
    with connection.write_transaction() as cursor:
        found = inspect(cursor)
        refuse_unless_ours(where, found)
        if found.owner is not Owner.OURS:
            cursor.execute(POSTGRES.ddl(META_DDL))
            cursor.executemany(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)"
                               " ON CONFLICT (key) DO NOTHING", mark_rows(found.owner).items())
    return found.owner


def inspect(cursor: Cursor) -> Inspection:
    """Whose database it is, from the tables of its `public` schema."""
    tables = tuple(sorted(name for (name,) in cursor.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
        (SCHEMA,))))
    names = set(tables)
    if META_TABLE in names:
        owner = Owner.OURS if _application(cursor) == APPLICATION else Owner.OTHER
    elif not names:
        owner = Owner.EMPTY
    elif names <= EVENT_STORE_TABLES and _topics_are_ours(cursor, names):
        owner = Owner.UNMARKED
    else:
        owner = Owner.OTHER
    return Inspection(owner, tables=tables)


def _topics_are_ours(cursor: Cursor, names: set[str]) -> bool:
    if "slothrunner_events" not in names:
        return True
    foreign = cursor.execute("SELECT 1 FROM slothrunner_events WHERE topic !~ ? LIMIT 1",
                             (_DOTTED,)).fetchone()
    return foreign is None


def refuse_unless_ours(where: str, found: Inspection) -> None:
    if found.owner is Owner.OTHER:
        shown = ", ".join(found.tables[:_TABLES_NAMED])
        more = len(found.tables) - _TABLES_NAMED
        if more > 0:
            shown += f" and {more} more"
        raise ForeignDatabase(
            f"PostgreSQL database {where} is not a sloth-runner database (its schema "
            f"{SCHEMA} has tables {shown}) and was left unchanged; use a database of its own")


def require_ours(cursor: Cursor) -> None:
    """Refuse to go on unless the database carries our mark (before dropping tables)."""
    present = cursor.execute("SELECT to_regclass(?) IS NOT NULL",
                             (f"{SCHEMA}.{META_TABLE}",)).fetchone()[0]
    if not present or _application(cursor) != APPLICATION:
        raise ForeignDatabase("the PostgreSQL database is not marked as a sloth-runner "
                              "database; its tables are left alone")
