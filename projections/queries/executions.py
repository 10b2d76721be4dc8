"""The `stack_executions` read model: runs of workflows against stacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record
from projections.queries.stacks import now_text

if TYPE_CHECKING:
    from infrastructure.sql import Connection

RUNNER_VANISHED = "runner vanished"


@dataclass(frozen=True, slots=True)
class ExecutionRecord(Record):
    id: str
    stack_id: str
    stack: str
    workflow: str
    version: str
    file: str
    file_sha256: str
    status: str
    """running, completed or failed (a run whose lease lapsed is failed: runner vanished)."""
    reason: str | None
    message: str
    started_at: str
    started_by: str
    correlation_id: str
    finished_at: str | None
    duration_ms: int | None
    lock_id: str | None
    alive_until: str
    snapshot_version: int | None
    rolled_back_to: int | None
    task_names: list[str]
    parameters: dict[str, Any]
    tasks: list[dict[str, Any]]


_COLUMNS = (
    "id, stack_id, stack_name, workflow, version, file, file_sha256, status, reason, message,"
    " started_at, started_by, correlation_id, finished_at, duration_ms, lock_id, alive_until,"
    " snapshot_version, rolled_back_to, task_names, parameters, tasks"
)


def _record(row: tuple[Any, ...], now: str) -> ExecutionRecord:
    values = list(row)
    for index in (19, 20, 21):
        values[index] = orjson.loads(values[index])
    if values[7] == "running" and values[16] <= now:
        values[7], values[8] = "failed", RUNNER_VANISHED
    return ExecutionRecord(*values)


def list_executions(connection: Connection, stack_id: str,
                    limit: int | None = None) -> list[ExecutionRecord]:
    """A stack's runs, newest first."""
    sql = f"SELECT {_COLUMNS} FROM stack_executions WHERE stack_id = ? ORDER BY started_at DESC"
    params: list[Any] = [stack_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    now = now_text()
    return [_record(row, now) for row in connection.execute(sql, params).fetchall()]


def find_executions(connection: Connection, prefix: str,
                    limit: int = 2) -> list[ExecutionRecord]:
    """The runs whose id is or starts with `prefix` (at most `limit` of them)."""
    # Ids are lower-case UUIDs; LIKE ignores ASCII case on SQLite but not on PostgreSQL.
    pattern = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM stack_executions WHERE id LIKE ? ESCAPE '\\' ORDER BY id"
        " LIMIT ?", (pattern, limit)).fetchall()
    now = now_text()
    return [_record(row, now) for row in rows]
