"""SQLite files: creating them safely, and connections for the read models."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infrastructure.errors import DatabaseUnusable

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 30


def prepare_database_file(path: Path) -> Path:
    """Make sure `path` is a SQLite file we can use, creating it (mode 0600) on first use."""
    path = path.expanduser()
    if path.is_dir():
        raise DatabaseUnusable(f"database path {path} is a directory")
    parent = path.parent
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(
            f"cannot create the database directory {parent}: {exc.strerror or exc}"
        ) from None
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot open database {path}: {exc.strerror or exc}") from None
    try:
        header = os.read(descriptor, len(SQLITE_HEADER))
    finally:
        os.close(descriptor)
    if header and header != SQLITE_HEADER:
        raise DatabaseUnusable(f"{path} is not a SQLite database")
    return path


def connect(path: Path) -> sqlite3.Connection:
    """A read-model connection, in autocommit mode: transactions are begun explicitly.

    Read models are derived data: their rows and positions commit together, so a power cut
    can only lose whole projection transactions, which the next catch-up redoes from the
    event log. They therefore commit without waiting for the disk (`synchronous=NORMAL`);
    the event store's own connections keep SQLite's full durability.
    """
    connection = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


@contextmanager
def immediate(connection: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes fails with "database is locked"
    when another process writes in between; taking the lock first makes it wait instead.
    """
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    try:
        yield cursor
    except BaseException:
        connection.rollback()
        raise
    else:
        connection.commit()
    finally:
        cursor.close()


@contextmanager
def snapshot(connection: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    """A read transaction: every query inside sees the same committed state."""
    cursor = connection.cursor()
    cursor.execute("BEGIN")
    try:
        yield cursor
    finally:
        connection.rollback()
        cursor.close()
