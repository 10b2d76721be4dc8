"""Whose database it is: this program marks the databases it creates and leaves others alone.

The original Go sloth-runner keeps its data at the same default path, in tables with the same
names (`stacks`, `state_locks`, ...), so table names prove nothing. A database is ours when
it carries our `PRAGMA application_id` (kept in the file header, readable by `file(1)`) and
our metadata table. An empty file becomes ours. A database an earlier release wrote, before
the mark existed, is recognised by its event store and projection positions holding our
dotted event topics, and is marked. Anything else is refused, and is never opened for writing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from infrastructure.errors import DamagedDatabase, DatabaseUnusable, ForeignDatabase
from infrastructure.sql import META_DDL, META_TABLE, Cursor
from infrastructure.sqlite import (
    BUSY_TIMEOUT_SECONDS,
    CHOOSE_ANOTHER,
    SQLITE_CORRUPT,
    SQLITE_NOTADB,
    DatabaseFile,
    read_only_uri,
)

APPLICATION_ID = 0x534C5448
"""`PRAGMA application_id` of every database this program creates: "SLTH" in ASCII."""


EVENT_STORE_TABLES = frozenset({"stored_events", "stored_snapshots"})
POSITIONS_TABLE = "projection_positions"

GO_TOOL_TABLES = frozenset({"state_locks", "state_versions", "state_events",
                            "stack_executions", "state_activity", "drift_detections"})
"""Tables that, next to `stacks` and without an event store, mark the Go tool's database."""

EARLIER_RELEASE = "an earlier sloth-runner release"
APPLICATION = "sloth-runner"
"""The `application` row of our metadata table."""

_TABLES_NAMED = 8


class Owner(Enum):
    OURS = "ours"
    UNMARKED = "ours, written before databases were marked"
    EMPTY = "empty"
    GO_TOOL = "the original Go sloth-runner's"
    OTHER = "another program's"


@dataclass(frozen=True)
class Inspection:
    """What a look at a database, without changing it, tells about whose it is."""

    owner: Owner
    application_id: int = 0
    user_version: int = 0
    tables: tuple[str, ...] = ()


def inspect(connection: sqlite3.Connection) -> Inspection:
    """Whose database the connection is on, from its header and its schema."""
    application_id = int(connection.execute("PRAGMA application_id").fetchone()[0])
    user_version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    objects = connection.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).fetchall()
    tables = tuple(sorted(name for kind, name in objects if kind in ("table", "view")))
    names = set(tables)
    if application_id == APPLICATION_ID:
        owner = Owner.OURS
    elif application_id != 0:
        owner = Owner.OTHER
    elif not objects:
        owner = Owner.EMPTY
    elif _written_by_an_earlier_release(connection, names):
        owner = Owner.UNMARKED
    elif "stacks" in names and names & GO_TOOL_TABLES and "stored_events" not in names:
        owner = Owner.GO_TOOL
    else:
        owner = Owner.OTHER
    return Inspection(owner, application_id, user_version, tables)


def _written_by_an_earlier_release(connection: sqlite3.Connection, names: set[str]) -> bool:
    """The event store with our topics, and our projection positions (or, when a first run
    stopped between creating the two, nothing but the event store)."""
    if not names >= EVENT_STORE_TABLES:
        return False
    if POSITIONS_TABLE not in names and names != EVENT_STORE_TABLES:
        return False
    return _topics_are_ours(connection)


def _topics_are_ours(connection: sqlite3.Connection) -> bool:
    """Our events are stored under dotted names (`stack.created`); eventsourcing's default
    topics, which another application would use, are `module:Class`."""
    try:
        foreign = connection.execute(
            "SELECT 1 FROM stored_events WHERE topic GLOB '*:*'"
            " OR topic NOT GLOB '[a-z]*.[a-z]*' LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # a `stored_events` table of some other shape
        return False
    return foreign is None


def inspect_file(database: DatabaseFile) -> Inspection:
    """Inspect a database file read-only: no lock taken, no file created or changed."""
    if database.empty:
        return Inspection(Owner.EMPTY)
    connection = sqlite3.connect(read_only_uri(database.path), uri=True,
                                 timeout=BUSY_TIMEOUT_SECONDS)
    try:
        return inspect(connection)
    except sqlite3.DatabaseError as exc:
        raise unreadable(database.path, exc) from None
    finally:
        connection.close()


def unreadable(path: Path, error: sqlite3.DatabaseError) -> DatabaseUnusable:
    """The error to report for a file SQLite cannot read."""
    if error.sqlite_errorcode & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return DamagedDatabase(
            f"{path} is damaged ({error}); restore it from a backup, or save what is readable "
            f"with `sqlite3 {path} .recover | sqlite3 RECOVERED.db` and use that file: the "
            "events are the source of truth, and `sloth-runner projections rebuild` rebuilds "
            "the rest from them")
    return DatabaseUnusable(f"cannot read database {path}: {error}")


def refuse_unless_ours(path: Path, found: Inspection) -> None:
    """Raise ForeignDatabase unless the database is ours, an earlier release's, or empty."""
    if found.owner is Owner.GO_TOOL:
        raise ForeignDatabase(
            f"{path} is a database of the original Go sloth-runner (tables "
            f"{_list(found.tables)}) and was left unchanged; {CHOOSE_ANOTHER}, and to bring "
            f"its stacks in, use `sloth-runner import go {path}` into a new database")
    if found.owner is Owner.OTHER:
        held = (f"it is marked with application_id 0x{found.application_id & 0xFFFFFFFF:08X}"
                if found.application_id else f"it has tables {_list(found.tables)}")
        raise ForeignDatabase(f"{path} is not a sloth-runner database ({held}) and was left "
                              f"unchanged; {CHOOSE_ANOTHER}")


def _list(tables: tuple[str, ...]) -> str:
    shown = ", ".join(tables[:_TABLES_NAMED])
    more = len(tables) - _TABLES_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def claim(database: DatabaseFile, looked: Inspection) -> Inspection:
    """Mark an empty database, or one an earlier release wrote, as ours; returns what it was.

    The look is taken again under the write lock, so two processes opening a new file at
    once mark it once, and a file that changed hands since the read-only look is refused.
    """
    connection = sqlite3.connect(database.connection_name(), uri=True,
                                 timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        if looked.owner is Owner.EMPTY:
            # Written through the log from the first page on, the new database is never
            # half-written in the file itself, where another process's lock-free look
            # (`read_only_uri`) would find it torn.
            connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            found = inspect(connection)
            refuse_unless_ours(database.path, found)
            if found.owner in (Owner.EMPTY, Owner.UNMARKED):
                _mark(connection, found.owner)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return found
    except sqlite3.DatabaseError as exc:
        raise unreadable(database.path, exc) from None
    finally:
        connection.close()


def _mark(connection: sqlite3.Connection, was: Owner) -> None:
    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    connection.execute(META_DDL)
    connection.executemany(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)"
                           " ON CONFLICT (key) DO NOTHING", mark_rows(was).items())


def mark_rows(was: Owner) -> dict[str, str]:
    """Our metadata rows for a database that was empty, or an earlier release's."""
    from domain.timestamps import to_text
    from infrastructure.clock import now

    stamp = to_text(now())
    rows = {"application": APPLICATION}
    if was is Owner.EMPTY:
        rows |= {"created_by": our_version(), "created_at": stamp}
    else:
        rows |= {"created_by": EARLIER_RELEASE, "marked_by": our_version(), "marked_at": stamp}
    return rows


def our_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"sloth-runner {version('sloth-runner')}"
    except PackageNotFoundError:
        return "sloth-runner (version unknown)"


def require_ours(cursor: Cursor) -> None:
    """Refuse to go on unless the cursor's database carries our mark (before dropping tables)."""
    if cursor.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
        path = cursor.execute("PRAGMA database_list").fetchone()[2]
        raise ForeignDatabase(f"{path or 'the database'} is not marked as a sloth-runner "
                              "database; its tables are left alone")
