"""The `state_versions` read model: user-visible snapshots, each state derived by replay."""

from __future__ import annotations

from functools import singledispatchmethod
from uuid import UUID

from eventsourcing.application import Application

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, dump, upsert

_WRITE_VERSION = upsert("state_versions", "stack_id, stack_name, version, creator, description,"
                        " state_data, created_at, position, event_id, deleted_at, deleted_by",
                        "stack_id, version")


class VersionProjector(DispatchingProjector):
    """Maintains `state_versions`; each version's state is derived by replaying the stream."""

    spec = schema.VERSIONS

    def __init__(self, store: Application[UUID]) -> None:
        super().__init__()
        self.store = store

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events do not change versions."""

    @handle.register
    def _created(self, event: Stack.SnapshotCreated, cursor: Cursor,
                 position: int) -> None:
        stack: Stack = self.store.repository.get(event.originator_id,
                                                 version=event.originator_version)
        cursor.execute(
            _WRITE_VERSION,
            (str(event.originator_id), stack.name, event.version, event.creator,
             event.description, dump(stack.user_state().model_dump(mode="json")),
             to_text(event.timestamp), event.originator_version, position, None, None),
        )

    @handle.register
    def _deleted(self, event: Stack.SnapshotDeleted, cursor: Cursor,
                 position: int) -> None:
        cursor.execute(
            "UPDATE state_versions SET deleted_at = ?, deleted_by = ?"
            " WHERE stack_id = ? AND version = ?",
            (to_text(event.timestamp), event.actor, str(event.originator_id), event.version),
        )
