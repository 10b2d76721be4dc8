"""Where each projection stands in the event log, and how far behind it is."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from projections import schema
from projections.queries import Record


@dataclass(frozen=True, slots=True)
class ProjectionStatus(Record):
    name: str
    version: int
    position: int
    head: int
    lag: int
    updated_at: str | None


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
