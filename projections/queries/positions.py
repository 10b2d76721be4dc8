"""Where each projection stands in the event log, and how far behind it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infrastructure.eventlog import head_position
from projections import schema
from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class ProjectionStatus(Record):
    name: str
    version: int
    position: int
    head: int
    lag: int
    updated_at: str | None


def projection_status(connection: Connection) -> list[ProjectionStatus]:
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


def lag(connection: Connection) -> int:
    """How many events the most lagging projection has yet to process."""
    row = connection.execute(
        "SELECT MIN(position), COUNT(*) FROM projection_positions").fetchone()
    head, lowest, count = head_position(connection), int(row[0] or 0), int(row[1])
    if count < len(schema.PROJECTIONS):
        return max(head, 1)
    return head - lowest
