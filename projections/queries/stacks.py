"""The `stacks`, `state_values` and `stack_outputs` read models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record, in_chunks

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class StackSummary(Record):
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


@dataclass(frozen=True, slots=True)
class StackDetail(Record):
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


STATUS = (
    "CASE WHEN status = 'running' AND NOT EXISTS (SELECT 1 FROM stack_executions e"
    " WHERE e.stack_id = stacks.id AND e.status = 'running' AND e.alive_until > ?)"
    " THEN 'failed' ELSE status END"
)
"""A stack's status as of the time given for its one parameter: running only while one of
its runs still holds a lease (a run whose lease lapsed has failed: its runner vanished)."""

_SUMMARY_COLUMNS = (
    f"id, name, description, {STATUS}, version, created_at, updated_at, last_execution,"
    " last_duration_ms, execution_count"
)


def now_text() -> str:
    """The current time in the storage form (what statuses are judged against)."""
    from domain.timestamps import to_text
    from infrastructure.clock import now

    return to_text(now())


def list_stacks(connection: Connection, *, include_destroyed: bool) -> list[StackSummary]:
    where = "" if include_destroyed else "WHERE status != 'destroyed'"
    rows = connection.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM stacks {where} ORDER BY name", (now_text(),)
    ).fetchall()
    return [StackSummary(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class StackStatus(Record):
    """A stack's identity and status, without its values."""

    id: str
    name: str
    status: str
    destroyed_at: str | None


def find_stack_statuses(connection: Connection,
                        names: Sequence[str]) -> dict[str, StackStatus]:
    """The identity and status of each named stack that exists (destroyed included)."""
    found: dict[str, StackStatus] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(names))):
        rows = connection.execute(
            f"SELECT id, name, status, destroyed_at FROM stacks WHERE name IN ({marks})",
            chunk).fetchall()
        found.update((row[1], StackStatus(*row)) for row in rows)
    return found


def find_stack(connection: Connection, name: str) -> StackDetail | None:
    row = connection.execute(
        f"SELECT id, name, description, {STATUS}, version, created_at, created_by, updated_at,"
        " updated_by, last_execution, last_duration_ms, execution_count, event_version,"
        " incarnation, destroyed_at FROM stacks WHERE name = ?",
        (now_text(), name),
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


def _key_values(connection: Connection, table: str, stack_id: str) -> dict[str, Any]:
    rows = connection.execute(
        f"SELECT key, value FROM {table} WHERE stack_id = ? ORDER BY key", (stack_id,)
    ).fetchall()
    return {key: orjson.loads(value) for key, value in rows}


def is_known_stack(connection: Connection, stack_id: str) -> bool:
    """Whether the stack ever existed (destroyed stacks included)."""
    return connection.execute(
        "SELECT 1 FROM stacks WHERE id = ?", (stack_id,)).fetchone() is not None


def stack_statuses(connection: Connection,
                   names: Iterable[str] | None = None) -> dict[str, str]:
    """The status of every stack (or of these, where they exist) by name, destroyed included."""
    if names is None:
        rows = connection.execute(f"SELECT name, {STATUS} FROM stacks ORDER BY name",
                                  (now_text(),)).fetchall()
    else:
        rows = []
        moment = now_text()
        for chunk, marks in in_chunks(list(dict.fromkeys(names))):
            rows += connection.execute(
                f"SELECT name, {STATUS} FROM stacks WHERE name IN ({marks})",
                (moment, *chunk)).fetchall()
    return dict(rows)


def stack_names(connection: Connection) -> dict[str, str]:
    """Every stack's name by its id, destroyed stacks included."""
    return dict(connection.execute("SELECT id, name FROM stacks").fetchall())
