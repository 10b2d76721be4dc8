"""Reading the original Go sloth-runner's database without changing a byte of it.

The Go tool keeps its stacks in SQLite (by default at /etc/sloth-runner/stacks.db, the path
this program uses too) in the tables `stacks`, `stack_executions`, `resources`,
`state_versions`, `state_locks`, `state_events`, `drift_detections` and `state_activity`;
its releases created them with slightly different columns, and any subset of the tables but
`stacks` may be missing. The file is opened read-only (`immutable`, or `mode=ro` through a
write-ahead log the Go tool left beside it), every table's columns are checked against what
the Go tool creates, and its rows are returned as they are: what they mean is decided by the
import (`commands.importing`).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infrastructure.errors import DatabaseUnusable
from infrastructure.ownership import APPLICATION_ID, EVENT_STORE_TABLES, unreadable
from infrastructure.sqlite import BUSY_TIMEOUT_SECONDS, SQLITE_HEADER, read_only_uri

GO_COLUMNS: Mapping[str, frozenset[str]] = {
    "stacks": frozenset({
        "id", "name", "description", "version", "status", "created_at", "updated_at",
        "completed_at", "workflow_file", "task_results", "outputs", "configuration",
        "metadata", "execution_count", "last_duration", "last_error", "resource_version"}),
    "stack_executions": frozenset({
        "id", "stack_id", "started_at", "completed_at", "duration", "status", "task_count",
        "success_count", "failure_count", "outputs", "error_message"}),
    "resources": frozenset({
        "id", "stack_id", "type", "name", "module", "properties", "dependencies", "state",
        "checksum", "created_at", "updated_at", "last_applied", "error_message", "metadata"}),
    "state_versions": frozenset({
        "id", "stack_id", "version", "state_data", "state_snapshot", "checksum", "created_at",
        "created_by", "creator", "description", "metadata"}),
    "state_locks": frozenset({
        "stack_id", "lock_id", "locked_by", "who", "locked_at", "created_at", "expires_at",
        "operation", "info", "reason", "metadata"}),
    "state_events": frozenset({
        "id", "stack_id", "stack_name", "event_type", "severity", "message", "data",
        "created_at", "timestamp", "source"}),
    "state_activity": frozenset({
        "id", "stack_id", "activity_type", "resource_id", "description", "details", "user",
        "created_at"}),
    "drift_detections": frozenset({
        "id", "stack_id", "resource_id", "expected_state", "actual_state", "drift_fields",
        "detected_at", "resolved_at", "is_drifted", "resolution_status"}),
}
"""Every column each table has in some release of the Go tool (the union of its schemas)."""

REQUIRED_COLUMNS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "stacks": (("id",), ("name",)),
    "stack_executions": (("stack_id",), ("status",)),
    "resources": (("stack_id",), ("type",), ("name",)),
    "state_versions": (("stack_id",), ("version",), ("state_data", "state_snapshot")),
    "state_locks": (("stack_id",), ("locked_by", "who")),
    "state_events": (("event_type",), ("stack_id", "stack_name")),
    "state_activity": (("stack_id",), ("activity_type",)),
    "drift_detections": (("stack_id",),),
}
"""What each table must have to be read: one column of each group (releases differ)."""

Row = dict[str, Any]


@dataclass(frozen=True)
class GoDatabase:
    """The rows of a Go sloth-runner database, table by table."""

    path: Path
    tables: dict[str, list[Row]]
    """Each of the Go tool's tables (an absent one is empty)."""
    present: tuple[str, ...]
    """The Go tool's tables the file has."""
    others: dict[str, int]
    """Tables the import does not read, with their row counts."""


def read_go_database(path: Path) -> GoDatabase:
    """Read every row the import needs; refuse (exit 2) a file that is not the Go tool's."""
    _check_file(path)
    try:
        with closing(sqlite3.connect(read_only_uri(path), uri=True,
                                     timeout=BUSY_TIMEOUT_SECONDS)) as connection:
            connection.execute("BEGIN")  # one read transaction: every table as of one moment
            return _read(connection, path)
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None


def _check_file(path: Path) -> None:
    try:
        info = path.stat()
    except OSError as exc:
        raise DatabaseUnusable(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DatabaseUnusable(f"{path} is a directory, not a database file")
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseUnusable(f"{path} is not a regular file")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = os.read(descriptor, 64)
    finally:
        os.close(descriptor)
    if not header:
        raise DatabaseUnusable(f"{path} is empty, not a database of the original Go "
                               "sloth-runner")
    if not header.startswith(SQLITE_HEADER):
        looks = header.lstrip()[:1]
        hint = (" (it looks like JSON: a Terraform state file goes to `sloth-runner import "
                "tfstate`, a Pulumi export to `sloth-runner import pulumi`)"
                if looks in (b"{", b"[") else "")
        raise DatabaseUnusable(f"{path} is not a SQLite database, so not one of the original "
                               f"Go sloth-runner{hint}")


def _read(connection: sqlite3.Connection, path: Path) -> GoDatabase:
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    names = sorted(row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"))
    if application_id == APPLICATION_ID or set(names) >= EVENT_STORE_TABLES:
        raise DatabaseUnusable(f"{path} is a sloth-runner database, not one of the original Go "
                               "tool: there is nothing to import (use it with --db)")
    if "stacks" not in names:
        shown = ", ".join(names[:8]) or "none"
        raise DatabaseUnusable(f"{path} is not a database of the original Go sloth-runner: it "
                               f"has no `stacks` table (tables: {shown})")
    tables: dict[str, list[Row]] = {}
    for table in GO_COLUMNS:
        if table not in names:
            tables[table] = []
            continue
        columns = [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]
        _check_columns(path, table, columns)
        cursor = connection.execute(f'SELECT * FROM "{table}"')
        tables[table] = [{name: _text(value) for name, value in zip(columns, row, strict=True)}
                         for row in cursor]
    others = {name: int(connection.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
              for name in names if name not in GO_COLUMNS}
    return GoDatabase(path=path, tables=tables,
                      present=tuple(name for name in GO_COLUMNS if name in names), others=others)


def _check_columns(path: Path, table: str, columns: list[str]) -> None:
    known = GO_COLUMNS[table]
    for column in columns:
        if column not in known:
            raise DatabaseUnusable(
                f"table {table} of {path} has an unexpected column '{column}' (not one the Go "
                f"sloth-runner creates: {', '.join(sorted(known))}); nothing was imported")
    for group in REQUIRED_COLUMNS[table]:
        if not any(column in columns for column in group):
            raise DatabaseUnusable(
                f"table {table} of {path} has no column '{' or '.join(group)}', which the Go "
                "sloth-runner creates; nothing was imported")


def _text(value: Any) -> Any:
    """SQLite values as JSON-ready ones: a BLOB as its UTF-8 text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
