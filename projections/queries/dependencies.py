"""The `stack_dependencies` read model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class DependencyRecord(Record):
    """A declared edge: `stack` depends on `depends_on`."""

    stack: str
    depends_on: str
    added_at: str
    added_by: str


def dependency_edges(connection: Connection) -> list[tuple[str, str]]:
    """Every declared edge as (stack, depends_on), in no particular order."""
    return connection.execute("SELECT stack_name, depends_on FROM stack_dependencies").fetchall()


def find_dependencies(connection: Connection, stack_id: str) -> list[DependencyRecord]:
    """The edges a stack declared, with when and by whom."""
    rows = connection.execute(
        "SELECT stack_name, depends_on, added_at, added_by FROM stack_dependencies"
        " WHERE stack_id = ? ORDER BY depends_on",
        (stack_id,),
    ).fetchall()
    return [DependencyRecord(*row) for row in rows]


def find_dependents(connection: Connection, name: str) -> list[DependencyRecord]:
    """The edges other stacks declared toward this name, with when and by whom."""
    rows = connection.execute(
        "SELECT stack_name, depends_on, added_at, added_by FROM stack_dependencies"
        " WHERE depends_on = ? ORDER BY stack_name",
        (name,),
    ).fetchall()
    return [DependencyRecord(*row) for row in rows]
