"""The `resources`, `resource_declarations` and `drift_reports` read models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record, in_chunks

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class ResourceRecord(Record):
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


_RESOURCE_COLUMNS = (
    "r.id, r.stack_id, r.name, r.type, r.state, r.dependencies, d.desired, r.observed, r.drift,"
    " r.reason, r.declared_at, r.declared_by, r.updated_at, r.updated_by, r.checked_at,"
    " r.checked_by FROM resources r JOIN resource_declarations d ON d.id = r.id"
)


def _resource(row: tuple[Any, ...]) -> ResourceRecord:
    values = list(row)
    for index in (5, 6, 7, 8):
        values[index] = orjson.loads(values[index]) if values[index] is not None else None
    return ResourceRecord(*values)


def list_resources(connection: Connection, stack_id: str) -> list[ResourceRecord]:
    rows = connection.execute(
        f"SELECT {_RESOURCE_COLUMNS} WHERE r.stack_id = ? ORDER BY r.name",
        (stack_id,),
    ).fetchall()
    return [_resource(row) for row in rows]


def resources_by_stack(connection: Connection,
                       stack_ids: Sequence[str]) -> dict[str, list[ResourceRecord]]:
    """The resources of each of these stacks (by name), in a few queries for many stacks."""
    found: dict[str, list[ResourceRecord]] = {stack_id: [] for stack_id in stack_ids}
    for chunk, marks in in_chunks(list(found)):
        rows = connection.execute(
            f"SELECT {_RESOURCE_COLUMNS} WHERE r.stack_id IN ({marks})"
            " ORDER BY r.stack_id, r.name", chunk).fetchall()
        for row in rows:
            found[row[1]].append(_resource(row))
    return found


def find_resource(connection: Connection, stack_id: str,
                  name: str) -> ResourceRecord | None:
    row = connection.execute(
        f"SELECT {_RESOURCE_COLUMNS} WHERE r.stack_id = ? AND r.name = ?",
        (stack_id, name),
    ).fetchone()
    return _resource(row) if row else None


@dataclass(frozen=True, slots=True)
class DriftReportRecord(Record):
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


def find_drift_report(connection: Connection, stack_id: str) -> DriftReportRecord | None:
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
    return DriftReportRecord(*values)


@dataclass(frozen=True, slots=True)
class DriftSummary(Record):
    """The counts of a stack's last drift report, and whether a fix followed it."""

    stack_id: str
    checked_at: str | None
    total: int
    in_sync: int
    drifted: int
    unknown: int
    fixed_at: str | None


def drift_summaries(connection: Connection) -> dict[str, DriftSummary]:
    """Every stack's last drift counts by stack id (stacks never checked or fixed are absent)."""
    rows = connection.execute(
        "SELECT stack_id, checked_at, total, in_sync, drifted, unknown, fixed_at"
        " FROM drift_reports").fetchall()
    return {row[0]: DriftSummary(*row) for row in rows}
