"""The `stack_dependencies` read model: the declared edges between stacks."""

from __future__ import annotations

from functools import singledispatchmethod

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, upsert

_WRITE_EDGE = upsert("stack_dependencies", "stack_id, stack_name, depends_on, added_at, added_by",
                     "stack_id, depends_on")


class DependencyProjector(DispatchingProjector):
    """Maintains `stack_dependencies`: one row per declared edge, kept while destroyed."""

    spec = schema.DEPENDENCIES

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events leave dependencies as they are."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: Cursor, position: int) -> None:
        # Created again after a destroy, a stack starts without dependencies.
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ?",
                       (str(event.originator_id),))

    @handle.register
    def _added(self, event: Stack.DependencyAdded, cursor: Cursor, position: int) -> None:
        stack_id = str(event.originator_id)
        # The stacks projector has seen the stack's creation: it runs first on every event.
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute(
            _WRITE_EDGE,
            (stack_id, name, event.depends_on, to_text(event.timestamp), event.actor),
        )

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: Cursor,
                  position: int) -> None:
        stack_id = str(event.originator_id)
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ?", (stack_id,))
        cursor.executemany(
            "INSERT INTO stack_dependencies (stack_id, stack_name, depends_on, added_at,"
            " added_by) VALUES (?, ?, ?, ?, ?)",
            [(stack_id, name, other, to_text(event.timestamp), event.actor)
             for other in event.state.dependencies],
        )

    @handle.register
    def _removed(self, event: Stack.DependencyRemoved, cursor: Cursor,
                 position: int) -> None:
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ? AND depends_on = ?",
                       (str(event.originator_id), event.depends_on))
