"""The `stack_dependencies` read model."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from projections.queries import Record


@dataclass(frozen=True, slots=True)
class DependencyRecord(Record):
    """A declared edge: `stack` depends on `depends_on`."""

    stack: str
    depends_on: str
    added_at: str
    added_by: str


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
    return [DependencyRecord(*row) for row in rows]


def find_dependents(connection: sqlite3.Connection, name: str) -> list[DependencyRecord]:
    """The edges other stacks declared toward this name, with when and by whom."""
    rows = connection.execute(
        "SELECT stack_name, depends_on, added_at, added_by FROM stack_dependencies"
        " WHERE depends_on = ? ORDER BY stack_name",
        (name,),
    ).fetchall()
    return [DependencyRecord(*row) for row in rows]
