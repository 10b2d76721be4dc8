"""SQLite files: checking and creating them safely, and connections for the read models."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infrastructure.errors import DatabaseUnusable
from infrastructure.sql import SQLITE, Dialect

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 30
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26
CHOOSE_ANOTHER = "choose another file with --db PATH or SLOTH_RUNNER_DB"

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


@dataclass(frozen=True)
class DatabaseFile:
    """A database path that passed the file-system checks, and whether this process may write it.

    Nothing has opened it as a database yet: whose it is gets checked next
    (`infrastructure.ownership`), before anything may write to it.
    """

    path: Path
    empty: bool
    """The file has no content yet (it was missing, and was just created, or is 0 bytes)."""
    read_only_reason: str | None = None
    """Why this process cannot write the database; None when it can."""

    @property
    def writable(self) -> bool:
        return self.read_only_reason is None

    def connection_name(self) -> str:
        """What to hand `sqlite3.connect(..., uri=True)`: a URI, read-only where it must be.

        A URI (rather than the path) leaves no doubt about odd file names, and lets the
        connection attach other files by URI (read-only, in `projections.pointintime`).
        """
        return self.path.absolute().as_uri() if self.writable else read_only_uri(self.path)

    def describe_read_only(self) -> str:
        return f"{self.path} is read-only ({self.read_only_reason})"


def open_database_file(path: Path, *, create_directory: bool) -> DatabaseFile:
    """Check `path` can hold a database and create it (mode 0600) when it is missing.

    An existing file is only ever opened for reading here. Its directory is created only
    when `create_directory` is set (the default location); a path the user named must be in
    a directory that exists.
    """
    path = path.expanduser()
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return _create(path, create_directory=create_directory)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot use database {path}: {exc.strerror or exc}") from None
    _refuse_special(path, info.st_mode)
    _check_header(path)
    return DatabaseFile(path, empty=info.st_size == 0, read_only_reason=_read_only_reason(path))


def _refuse_special(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    raise DatabaseUnusable(f"{path} is not a regular file (it is {kind}); a database must be a "
                           f"file: {CHOOSE_ANOTHER}")


def _check_header(path: Path) -> None:
    # O_NONBLOCK: were the file swapped for a FIFO since it was checked, opening must not hang.
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot read database {path}: {exc.strerror or exc}") from None
    try:
        _refuse_special(path, os.fstat(descriptor).st_mode)
        header = os.read(descriptor, len(SQLITE_HEADER))
    finally:
        os.close(descriptor)
    if header and header != SQLITE_HEADER:
        raise DatabaseUnusable(f"{path} is not a SQLite database; it was left unchanged: "
                               f"{CHOOSE_ANOTHER}")


def _create(path: Path, *, create_directory: bool) -> DatabaseFile:
    parent = path.parent
    if not parent.is_dir():
        if parent.exists():
            raise DatabaseUnusable(f"cannot create database {path}: {parent} is not a directory")
        if not create_directory:
            raise DatabaseUnusable(f"cannot create database {path}: its directory {parent} does "
                                   "not exist; create it first, or " + CHOOSE_ANOTHER)
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnusable(
                f"cannot create the database directory {parent}: {exc.strerror or exc}"
            ) from None
    try:
        # O_EXCL: never follow a symbolic link to create a file somewhere else.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.is_symlink() and not path.exists():
            raise DatabaseUnusable(f"{path} is a symbolic link to a missing file; "
                                   f"{CHOOSE_ANOTHER}") from None
        return open_database_file(path, create_directory=False)  # another process made it
    except PermissionError:
        raise DatabaseUnusable(f"cannot create database {path}: the directory {parent} is not "
                               "writable") from None
    except OSError as exc:
        raise DatabaseUnusable(f"cannot create database {path}: {exc.strerror or exc}") from None
    return DatabaseFile(path, empty=True)


def _read_only_reason(path: Path) -> str | None:
    if not os.access(path, os.W_OK):
        return "you may read the file but not write it"
    directory = path.resolve().parent
    if not os.access(directory, os.W_OK | os.X_OK):
        return (f"its directory {directory} is not writable, and SQLite must create "
                f"{path.name}-wal and {path.name}-shm there to write")
    return None


def read_only_uri(path: Path) -> str:
    """A URI that opens the database for reading without creating or changing any file.

    A plain `mode=ro` connection to a WAL database creates the `-wal` and `-shm` files when
    they are missing, and leaves them behind owned by the reader, which then blocks the
    owner's next write. With no write-ahead log beside the file, every committed
    transaction is in the file itself, so it is opened `immutable` (no locks, no side
    files). When a log exists, a writer is at work or stopped mid-way: `mode=ro` reads it
    through the existing `-shm` (SQLite 3.22 or later).
    """
    real = path.resolve()
    uri = f"{real.as_uri()}?mode=ro"
    wal = Path(f"{real}-wal")
    if not (wal.is_file() and wal.stat().st_size > 0):
        uri += "&immutable=1"
    return uri


CACHE_KIB = 256 * 1024
"""SQLite's page cache while projecting (its default is 2 MiB)."""


class SQLiteConnection(sqlite3.Connection):
    """A read-model connection (`infrastructure.sql.Connection`) on a SQLite file."""

    dialect: Dialect = SQLITE

    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

        A deferred transaction that reads and then writes fails with "database is locked"
        when another process writes in between; taking the lock first makes it wait instead.
        """
        cursor = self.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            self.rollback()
            raise
        else:
            self.commit()
        finally:
            cursor.close()

    @contextmanager
    def bulk_writes(self, *, rebuild: bool = False) -> Iterator[None]:
        """A large page cache while writing many rows, and, to `rebuild`, sorting in memory.

        The cache keeps the indexes being written in memory instead of spilling and reading
        them back (it is only a limit: pages are taken as needed); a rebuild builds its
        indexes last, sorting every table once.
        """
        (cache_size,) = self.execute("PRAGMA cache_size").fetchone()
        (temp_store,) = self.execute("PRAGMA temp_store").fetchone()
        self.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if rebuild:
            self.execute("PRAGMA temp_store = MEMORY")
        try:
            yield
        finally:
            self.execute(f"PRAGMA cache_size = {int(cache_size)}")
            self.execute(f"PRAGMA temp_store = {int(temp_store)}")


def connect(database: DatabaseFile) -> SQLiteConnection:
    """A read-model connection, in autocommit mode: transactions are begun explicitly.

    Read models are derived data: their rows and positions commit together, so a power cut
    can only lose whole projection transactions, which the next catch-up redoes from the
    event log. They therefore commit without waiting for the disk (`synchronous=NORMAL`);
    the event store's own connections keep SQLite's full durability.
    """
    connection = sqlite3.connect(database.connection_name(), uri=True,
                                 timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                 check_same_thread=False, factory=SQLiteConnection)
    if database.writable:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def damage_in(error: BaseException) -> sqlite3.DatabaseError | None:
    """The SQLite error saying the file is damaged (corrupt, or not a database) that caused
    `error`, directly or through the event store's wrapping; None when there is none."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError) and (
                current.sqlite_errorcode & 0xFF) in (SQLITE_CORRUPT, SQLITE_NOTADB):
            return current
        current = current.__cause__ or current.__context__
    return None
