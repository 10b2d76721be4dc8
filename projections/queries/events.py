"""The audit log (`state_events`): events with their summaries, and each stack's history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class EventRecord(Record):
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
    """When it happened: for a line of another tool's history (`history.imported`), when it
    happened there (as `actor` is who did it there)."""
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter(Record):
    stack_id: str | None = None
    type_pattern: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    after: int | None = None
    """Cursor paging: the `limit` oldest events after this event id (instead of the newest)."""
    before: int | None = None
    """Cursor paging backwards: only events before this event id (the newest `limit` of them)."""
    stack_ids: tuple[str, ...] | None = None
    """Only these stacks' events (none at all when empty)."""


def event_types(connection: Connection) -> list[str]:
    """Every event type in the audit log, each found with one index lookup (a walk from one
    type to the next, not a scan of every event)."""
    rows = connection.execute(
        "WITH RECURSIVE types (type) AS ("
        " SELECT MIN(event_type) FROM state_events"
        " UNION ALL"
        " SELECT (SELECT MIN(event_type) FROM state_events WHERE event_type > types.type)"
        " FROM types WHERE types.type IS NOT NULL)"
        " SELECT type FROM types WHERE type IS NOT NULL").fetchall()
    return [row[0] for row in rows]


def matching_types(connection: Connection, pattern: str) -> list[str]:
    """The event types a shell-style pattern (`lock.*`, `stack.?reated`) matches, case
    sensitively: `*` any text, `?` one character, `[...]` one of a set."""
    from fnmatch import fnmatchcase

    return [kind for kind in event_types(connection) if fnmatchcase(kind, pattern)]


def list_events(connection: Connection, query: EventFilter) -> list[EventRecord]:
    """Events in log order; with a limit, the most recent `limit` of them."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.stack_ids is not None:
        if not query.stack_ids:
            return []
        clauses.append(f"stack_id IN ({', '.join('?' * len(query.stack_ids))})")
        params.extend(query.stack_ids)
    if query.after is not None:
        clauses.append("id > ?")
        params.append(query.after)
    if query.before is not None:
        clauses.append("id < ?")
        params.append(query.before)
    if query.stack_id is not None:
        clauses.append("stack_id = ?")
        params.append(query.stack_id)
    if query.type_pattern:
        types = matching_types(connection, query.type_pattern)
        if not types:
            return []
        clauses.append(f"event_type IN ({', '.join('?' * len(types))})")
        params.extend(types)
    if query.actor:
        clauses.append(f"{_ACTOR} = ?")
        params.append(query.actor)
    if query.since:
        clauses.append(f"{_TIME} >= ?")
        params.append(query.since)
    if query.until:
        clauses.append(f"{_TIME} <= ?")
        params.append(query.until)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = (
        "SELECT id, stack_id, stack_name, stack_version, event_type, severity, message, source,"
        f" {_ACTOR}, correlation_id, {_TIME}, data FROM state_events {where}"
        f" ORDER BY id {'ASC' if query.after is not None else 'DESC'}"
    )
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    rows = connection.execute(sql, params).fetchall()
    if query.after is None:
        rows.reverse()
    return [EventRecord(
        id=row[0], stack_id=row[1], stack=row[2], stack_version=row[3], type=row[4],
        severity=row[5], message=row[6], source=row[7], actor=row[8], correlation_id=row[9],
        timestamp=row[10], data=orjson.loads(row[11])) for row in rows]


_TIME = "COALESCE(original_time, created_at)"
_ACTOR = "COALESCE(original_actor, actor)"
"""An event's time and actor as the log shows them: a line of another tool's history
(`history.imported`) by its own, the rest as recorded."""


@dataclass(frozen=True, slots=True)
class HistoryEntry(Record):
    """One change to a stack (field names follow `pulumi stack history --json` where they can)."""

    event_id: int
    version: int
    time: str
    actor: str
    source: str
    kind: str
    summary: str
    correlation_id: str


def stack_history(connection: Connection, stack_id: str,
                  limit: int | None = None) -> list[HistoryEntry]:
    """Every change to a stack, newest first."""
    sql = (f"SELECT id, stack_version, {_TIME}, {_ACTOR}, source, event_type, message,"
           " correlation_id FROM state_events WHERE stack_id = ? ORDER BY id DESC")
    params: list[Any] = [stack_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [HistoryEntry(*row) for row in connection.execute(sql, params).fetchall()]


def stack_event(connection: Connection, stack_id: str,
                version: int) -> HistoryEntry | None:
    """The change that brought a stack to this version of its stream."""
    row = connection.execute(
        "SELECT id, stack_version, created_at, actor, source, event_type, message,"
        " correlation_id FROM state_events WHERE stack_id = ? AND stack_version = ?",
        (stack_id, version)).fetchone()
    return HistoryEntry(*row) if row else None


def event_ids_until(connection: Connection, at: str) -> set[int]:
    """The log positions of every event recorded at or before a time."""
    return {row[0] for row in connection.execute(
        "SELECT id FROM state_events WHERE created_at <= ?", (at,)).fetchall()}


def stream_version_at(connection: Connection, stack_id: str, *,
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
