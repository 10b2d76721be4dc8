"""Queries over the read models, returning typed read DTOs (never aggregates).

This module is on the start-up path of every read command: it imports no pydantic,
no eventsourcing and no domain events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from projections import schema


class StackSummary(NamedTuple):
    id: str
    name: str
    description: str
    status: str
    version: int
    created_at: str
    updated_at: str
    last_execution: str | None
    last_duration_ms: int | None
    execution_count: int

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class StackDetail(NamedTuple):
    id: str
    name: str
    description: str
    status: str
    version: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str
    last_execution: str | None
    last_duration_ms: int | None
    execution_count: int
    event_version: int
    incarnation: int
    destroyed_at: str | None
    values: dict[str, Any]
    outputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class EventRecord(NamedTuple):
    id: int
    stack_id: str
    stack: str
    stack_version: int
    type: str
    severity: str
    message: str
    source: str
    actor: str
    correlation_id: str
    timestamp: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class EventFilter(NamedTuple):
    stack_id: str | None = None
    type_pattern: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None


class ProjectionStatus(NamedTuple):
    name: str
    version: int
    position: int
    head: int
    lag: int
    updated_at: str | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class LockRecord(NamedTuple):
    stack_id: str
    stack: str
    lock_id: str
    locked_by: str
    acquired_by_actor: str
    locked_at: str
    expires_at: str
    operation: str
    reason: str
    metadata: dict[str, str]
    generation: int
    renewed_at: str | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


_LOCK_COLUMNS = (
    "stack_id, stack_name, lock_id, locked_by, acquired_by_actor, locked_at, expires_at,"
    " operation, reason, metadata, generation, renewed_at"
)


def _lock(row: tuple[Any, ...]) -> LockRecord:
    values = list(row)
    values[9] = orjson.loads(values[9])
    return LockRecord._make(values)


def find_lock(connection: sqlite3.Connection, stack_id: str) -> LockRecord | None:
    row = connection.execute(
        f"SELECT {_LOCK_COLUMNS} FROM state_locks WHERE stack_id = ?", (stack_id,)
    ).fetchone()
    return _lock(row) if row else None


def list_locks(connection: sqlite3.Connection) -> list[LockRecord]:
    rows = connection.execute(
        f"SELECT {_LOCK_COLUMNS} FROM state_locks ORDER BY stack_name"
    ).fetchall()
    return [_lock(row) for row in rows]


_SUMMARY_COLUMNS = (
    "id, name, description, status, version, created_at, updated_at, last_execution,"
    " last_duration_ms, execution_count"
)


def list_stacks(connection: sqlite3.Connection, *, include_destroyed: bool) -> list[StackSummary]:
    where = "" if include_destroyed else "WHERE status != 'destroyed'"
    rows = connection.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM stacks {where} ORDER BY name"
    ).fetchall()
    return [StackSummary(*row) for row in rows]


def find_stack(connection: sqlite3.Connection, name: str) -> StackDetail | None:
    row = connection.execute(
        "SELECT id, name, description, status, version, created_at, created_by, updated_at,"
        " updated_by, last_execution, last_duration_ms, execution_count, event_version,"
        " incarnation, destroyed_at FROM stacks WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    columns = ("id", "name", "description", "status", "version", "created_at", "created_by",
               "updated_at", "updated_by", "last_execution", "last_duration_ms",
               "execution_count", "event_version", "incarnation", "destroyed_at")
    stack_id = row[0]
    return StackDetail(
        **dict(zip(columns, row, strict=True)),
        values=_key_values(connection, "state_values", stack_id),
        outputs=_key_values(connection, "stack_outputs", stack_id),
    )


def _key_values(connection: sqlite3.Connection, table: str, stack_id: str) -> dict[str, Any]:
    rows = connection.execute(
        f"SELECT key, value FROM {table} WHERE stack_id = ? ORDER BY key", (stack_id,)
    ).fetchall()
    return {key: orjson.loads(value) for key, value in rows}


def list_events(connection: sqlite3.Connection, query: EventFilter) -> list[EventRecord]:
    """Events in log order; with a limit, the most recent `limit` of them."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.stack_id is not None:
        clauses.append("stack_id = ?")
        params.append(query.stack_id)
    if query.type_pattern:
        clauses.append("event_type GLOB ?")
        params.append(query.type_pattern)
    if query.actor:
        clauses.append("actor = ?")
        params.append(query.actor)
    if query.since:
        clauses.append("created_at >= ?")
        params.append(query.since)
    if query.until:
        clauses.append("created_at <= ?")
        params.append(query.until)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = (
        "SELECT id, stack_id, stack_name, stack_version, event_type, severity, message, source,"
        f" actor, correlation_id, created_at, data FROM state_events {where} ORDER BY id DESC"
    )
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    rows = connection.execute(sql, params).fetchall()
    rows.reverse()
    return [EventRecord(
        id=row[0], stack_id=row[1], stack=row[2], stack_version=row[3], type=row[4],
        severity=row[5], message=row[6], source=row[7], actor=row[8], correlation_id=row[9],
        timestamp=row[10], data=orjson.loads(row[11])) for row in rows]


def is_known_stack(connection: sqlite3.Connection, stack_id: str) -> bool:
    """Whether the stack ever existed (destroyed stacks included)."""
    return connection.execute(
        "SELECT 1 FROM stacks WHERE id = ?", (stack_id,)).fetchone() is not None


def head_position(connection: sqlite3.Connection) -> int:
    """The position of the newest event in the log (0 when there are none)."""
    row = connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
    return int(row[0] or 0)


def projection_status(connection: sqlite3.Connection) -> list[ProjectionStatus]:
    head = head_position(connection)
    rows = dict(
        (name, (version, position, updated_at))
        for name, version, position, updated_at in connection.execute(
            "SELECT name, version, position, updated_at FROM projection_positions"
        )
    )
    result = []
    for spec in schema.PROJECTIONS:
        version, position, updated_at = rows.get(spec.name, (spec.version, 0, None))
        result.append(
            ProjectionStatus(spec.name, version, position, head, head - position, updated_at)
        )
    return result


def lag(connection: sqlite3.Connection) -> int:
    """How many events the most lagging projection has yet to process."""
    row = connection.execute(
        "SELECT (SELECT MAX(rowid) FROM stored_events),"
        " (SELECT MIN(position) FROM projection_positions),"
        " (SELECT COUNT(*) FROM projection_positions)"
    ).fetchone()
    head, lowest, count = int(row[0] or 0), int(row[1] or 0), int(row[2])
    if count < len(schema.PROJECTIONS):
        return max(head, 1)
    return head - lowest


class VersionRecord(NamedTuple):
    stack_id: str
    stack: str
    version: int
    creator: str
    description: str
    created_at: str
    position: int
    event_id: int
    deleted_at: str | None
    deleted_by: str | None
    state: dict[str, Any]

    def to_json(self, *, with_state: bool = True) -> dict[str, Any]:
        document = self._asdict()
        if not with_state:
            del document["state"]
        return document


_VERSION_COLUMNS = (
    "stack_id, stack_name, version, creator, description, created_at, position, event_id,"
    " deleted_at, deleted_by"
)


def list_versions(connection: sqlite3.Connection, stack_id: str, *,
                  include_deleted: bool = False) -> list[VersionRecord]:
    """A stack's snapshots, newest first (their states are not loaded)."""
    where = "" if include_deleted else " AND deleted_at IS NULL"
    rows = connection.execute(
        f"SELECT {_VERSION_COLUMNS} FROM state_versions WHERE stack_id = ?{where}"
        " ORDER BY version DESC", (stack_id,)).fetchall()
    return [VersionRecord._make((*row, {})) for row in rows]


def find_version(connection: sqlite3.Connection, stack_id: str,
                 version: int) -> VersionRecord | None:
    row = connection.execute(
        f"SELECT {_VERSION_COLUMNS}, state_data FROM state_versions"
        " WHERE stack_id = ? AND version = ?", (stack_id, version)).fetchone()
    if row is None:
        return None
    return VersionRecord._make((*row[:-1], orjson.loads(row[-1])))


class HistoryEntry(NamedTuple):
    """One change to a stack (field names follow `pulumi stack history --json` where they can)."""

    event_id: int
    version: int
    time: str
    actor: str
    source: str
    kind: str
    summary: str
    correlation_id: str

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class DependencyRecord(NamedTuple):
    """A declared edge: `stack` depends on `depends_on`."""

    stack: str
    depends_on: str
    added_at: str
    added_by: str

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class ValidationRecord(NamedTuple):
    """A stack's last validation."""

    stack: str
    result: str
    checks: list[dict[str, str]]
    validated_at: str
    validated_by: str
    correlation_id: str

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def stack_history(connection: sqlite3.Connection, stack_id: str,
                  limit: int | None = None) -> list[HistoryEntry]:
    """Every change to a stack, newest first."""
    sql = ("SELECT id, stack_version, created_at, actor, source, event_type, message,"
           " correlation_id FROM state_events WHERE stack_id = ? ORDER BY id DESC")
    params: list[Any] = [stack_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [HistoryEntry(*row) for row in connection.execute(sql, params).fetchall()]


def stream_version_at(connection: sqlite3.Connection, stack_id: str, *,
                      at: str | None = None, event_id: int | None = None) -> int | None:
    """The stack's stream version as of a time or a log position (None: it did not exist)."""
    if event_id is not None:
        row = connection.execute(
            "SELECT stack_version FROM state_events WHERE stack_id = ? AND id <= ?"
            " ORDER BY id DESC LIMIT 1", (stack_id, event_id)).fetchone()
    else:
        row = connection.execute(
            "SELECT stack_version FROM state_events WHERE stack_id = ? AND created_at <= ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1", (stack_id, at)).fetchone()
    return int(row[0]) if row else None
def stack_statuses(connection: sqlite3.Connection,
                   names: Iterable[str] | None = None) -> dict[str, str]:
    """The status of every stack (or of these, where they exist) by name, destroyed included."""
    if names is None:
        rows = connection.execute("SELECT name, status FROM stacks ORDER BY name").fetchall()
    else:
        wanted = list(names)
        rows = connection.execute(
            f"SELECT name, status FROM stacks WHERE name IN ({', '.join('?' * len(wanted))})",
            wanted).fetchall()
    return dict(rows)


def dependency_edges(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every declared edge as (stack, depends_on), in no particular order."""
    return connection.execute("SELECT stack_name, depends_on FROM stack_dependencies").fetchall()


def find_dependencies(connection: sqlite3.Connection, stack_id: str) -> list[DependencyRecord]:
    """The edges a stack declared, with when and by whom."""
    rows = connection.execute(
        "SELECT stack_name, depends_on, added_at, added_by FROM stack_dependencies"
        " WHERE stack_id = ? ORDER BY depends_on",
        (stack_id,),
    ).fetchall()
    return [DependencyRecord._make(row) for row in rows]


def find_dependents(connection: sqlite3.Connection, name: str) -> list[DependencyRecord]:
    """The edges other stacks declared toward this name, with when and by whom."""
    rows = connection.execute(
        "SELECT stack_name, depends_on, added_at, added_by FROM stack_dependencies"
        " WHERE depends_on = ? ORDER BY stack_name",
        (name,),
    ).fetchall()
    return [DependencyRecord._make(row) for row in rows]


def last_validations(connection: sqlite3.Connection) -> dict[str, ValidationRecord]:
    """Each validated stack's last validation, by stack name."""
    rows = connection.execute(
        "SELECT s.name, v.result, v.checks, v.validated_at, v.validated_by, v.correlation_id"
        " FROM stack_validations v JOIN stacks s ON s.id = v.stack_id"
    ).fetchall()
    return {row[0]: ValidationRecord(row[0], row[1], orjson.loads(row[2]), *row[3:])
            for row in rows}


def stack_status(connection: sqlite3.Connection, stack_id: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    row = connection.execute("SELECT status FROM stacks WHERE id = ?", (stack_id,)).fetchone()
    return str(row[0]) if row else None


class ResourceRecord(NamedTuple):
    id: str
    stack_id: str
    name: str
    type: str
    state: str
    dependencies: list[str]
    desired: dict[str, Any]
    observed: dict[str, Any] | None
    drift: list[dict[str, Any]]
    reason: str
    declared_at: str
    declared_by: str
    updated_at: str
    updated_by: str
    checked_at: str | None
    checked_by: str | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


_RESOURCE_COLUMNS = (
    "r.id, r.stack_id, r.name, r.type, r.state, r.dependencies, d.desired, r.observed, r.drift,"
    " r.reason, r.declared_at, r.declared_by, r.updated_at, r.updated_by, r.checked_at,"
    " r.checked_by FROM resources r JOIN resource_declarations d ON d.id = r.id"
)


def _resource(row: tuple[Any, ...]) -> ResourceRecord:
    values = list(row)
    for index in (5, 6, 7, 8):
        values[index] = orjson.loads(values[index]) if values[index] is not None else None
    return ResourceRecord._make(values)


def list_resources(connection: sqlite3.Connection, stack_id: str) -> list[ResourceRecord]:
    rows = connection.execute(
        f"SELECT {_RESOURCE_COLUMNS} WHERE r.stack_id = ? ORDER BY r.name",
        (stack_id,),
    ).fetchall()
    return [_resource(row) for row in rows]


def find_resource(connection: sqlite3.Connection, stack_id: str,
                  name: str) -> ResourceRecord | None:
    row = connection.execute(
        f"SELECT {_RESOURCE_COLUMNS} WHERE r.stack_id = ? AND r.name = ?",
        (stack_id, name),
    ).fetchone()
    return _resource(row) if row else None


class DriftReportRecord(NamedTuple):
    """A stack's last drift report (`drift.detected` / `drift.checked`) and the fix after it."""

    stack_id: str
    event_id: int | None
    event_type: str | None
    checked_at: str | None
    checked_by: str | None
    correlation_id: str | None
    total: int
    in_sync: int
    drifted: int
    unknown: int
    resources: list[dict[str, Any]] | None
    fix_event_id: int | None
    fixed_at: str | None
    fixed_by: str | None
    fix_mode: str | None
    fix: list[dict[str, Any]] | None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def find_drift_report(connection: sqlite3.Connection, stack_id: str) -> DriftReportRecord | None:
    row = connection.execute(
        "SELECT stack_id, event_id, event_type, checked_at, checked_by, correlation_id, total,"
        " in_sync, drifted, unknown, report, fix_event_id, fixed_at, fixed_by, fix_mode, fix"
        " FROM drift_reports WHERE stack_id = ?",
        (stack_id,),
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    for index in (10, 15):
        values[index] = orjson.loads(values[index]) if values[index] is not None else None
    return DriftReportRecord._make(values)
