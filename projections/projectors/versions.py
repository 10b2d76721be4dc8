"""The `state_versions` read model: user-visible snapshots, each state derived by replay."""

from __future__ import annotations

import sqlite3
from functools import singledispatchmethod
from uuid import UUID

from eventsourcing.application import Application

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from projections import schema
from projections.projectors import DispatchingProjector, dump


class VersionProjector(DispatchingProjector):
    """Maintains `state_versions`; each version's state is derived by replaying the stream."""

    spec = schema.VERSIONS

    def __init__(self, store: Application[UUID]) -> None:
        super().__init__()
        self.store = store

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor, position: int) -> None:
        """Other events do not change versions."""

    @handle.register
    def _created(self, event: Stack.SnapshotCreated, cursor: sqlite3.Cursor,
                 position: int) -> None:
        stack = self._stack_at(event.originator_id, event.originator_version)
        cursor.execute(
            "INSERT OR REPLACE INTO state_versions (stack_id, stack_name, version, creator,"
            " description, state_data, created_at, position, event_id, deleted_at, deleted_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (str(event.originator_id), stack.name, event.version, event.creator,
             event.description, dump(stack.user_state().model_dump(mode="json")),
             to_text(event.original_time or event.timestamp), event.originator_version,
             position),
        )

    def _stack_at(self, identity: UUID, version: int) -> Stack:
        """The stack at a version: the cached one when it is that version (a snapshot just
        taken, caught up at once), else replayed from the nearest library snapshot."""
        latest: Stack = self.store.repository.get(identity)
        if latest.version == version:
            return latest
        stack: Stack = self.store.repository.get(identity, version=version)
        return stack

    @handle.register
    def _deleted(self, event: Stack.SnapshotDeleted, cursor: sqlite3.Cursor,
                 position: int) -> None:
        cursor.execute(
            "UPDATE state_versions SET deleted_at = ?, deleted_by = ?"
            " WHERE stack_id = ? AND version = ?",
            (to_text(event.timestamp), event.actor, str(event.originator_id), event.version),
        )
