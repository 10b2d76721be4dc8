"""The `state_versions` read model: user-visible snapshots, each state derived by replay."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.eventstore import SNAPSHOT_INTERVAL
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
        # Within a batch, each stack as last replayed for a version: the next version of the
        # same stack (an import records hundreds in one write) replays only the events since.
        self._replayed: dict[UUID, Stack] = {}

    def flush(self, cursor: Cursor) -> None:
        self._replayed = {}

    def discard(self) -> None:
        self._replayed = {}

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events do not change versions."""

    @handle.register
    def _created(self, event: Stack.SnapshotCreated, cursor: Cursor,
                 position: int) -> None:
        stack = self._stack_at(event.originator_id, event.originator_version)
        cursor.execute(
            _WRITE_VERSION,
            (str(event.originator_id), stack.name, event.version, event.creator,
             event.description, dump(stack.user_state().model_dump(mode="json")),
             to_text(event.original_time or event.timestamp), event.originator_version,
             position, None, None),
        )

    def _stack_at(self, identity: UUID, version: int) -> Stack:
        """The stack at a version: the cached one when it is that version (a snapshot just
        taken, caught up at once), else the one replayed for an earlier version of this batch
        brought forward, else replayed from the nearest library snapshot."""
        latest: Stack = self.store.repository.get(identity)
        if latest.version == version:
            return latest
        earlier = self._replayed.get(identity)
        # Beyond a library snapshot's interval, the nearest snapshot is the shorter way.
        if earlier is not None and 0 < version - earlier.version <= SNAPSHOT_INTERVAL:
            stack: Stack = earlier
            for event in self.store.events.get(identity, gt=earlier.version, lte=version):
                stack = cast(Any, event).mutate(stack)
        else:
            stack = self.store.repository.get(identity, version=version)
        self._replayed[identity] = stack
        return stack

    @handle.register
    def _deleted(self, event: Stack.SnapshotDeleted, cursor: Cursor,
                 position: int) -> None:
        cursor.execute(
            "UPDATE state_versions SET deleted_at = ?, deleted_by = ?"
            " WHERE stack_id = ? AND version = ?",
            (to_text(event.timestamp), event.actor, str(event.originator_id), event.version),
        )
