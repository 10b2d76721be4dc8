"""The `state_locks` read model: each stack's present lock, held or expired."""

from __future__ import annotations

from functools import singledispatchmethod

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, dump, upsert

_WRITE_LOCK = upsert("state_locks", "stack_id, stack_name, lock_id, locked_by, acquired_by_actor,"
                     " locked_at, expires_at, operation, reason, metadata, generation, renewed_at,"
                     " event_version", "stack_id")


class LockProjector(DispatchingProjector):
    """Maintains `state_locks`: one row per stack whose lock is present (held or expired)."""

    spec = schema.LOCKS

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events leave locks as they are."""

    @handle.register
    def _acquired(self, event: Stack.LockAcquired, cursor: Cursor, position: int) -> None:
        stack_id = str(event.originator_id)
        name = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute(
            _WRITE_LOCK,
            (stack_id, name[0] if name else "", event.lock_id, event.locked_by,
             event.original_actor or event.actor, to_text(event.original_time or event.timestamp),
             to_text(event.expires_at), event.operation, event.reason,
             dump(event.metadata), event.generation, None, event.originator_version),
        )

    @handle.register
    def _renewed(self, event: Stack.LockRenewed, cursor: Cursor, position: int) -> None:
        cursor.execute(
            "UPDATE state_locks SET expires_at = ?, renewed_at = ?, event_version = ?"
            " WHERE stack_id = ? AND lock_id = ?",
            (to_text(event.expires_at), to_text(event.timestamp), event.originator_version,
             str(event.originator_id), event.lock_id),
        )

    @handle.register(Stack.LockReleased)
    @handle.register(Stack.LockForceReleased)
    @handle.register(Stack.LockExpired)
    def _removed(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        cursor.execute("DELETE FROM state_locks WHERE stack_id = ? AND lock_id = ?",
                       (str(event.originator_id), getattr(event, "lock_id", "")))
