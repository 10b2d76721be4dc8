"""Point-in-time reads: a stack exactly as it was at a time or a log position, by replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import Application

from domain.errors import NotFound, StackNotFound
from domain.names import stack_id
from domain.stack import Stack
from domain.timestamps import to_text
from projections.queries import Record
from projections.queries.events import stream_version_at
from projections.queries.stacks import is_known_stack

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class StackAsOf(Record):
    """A stack as it was: replayed from its events up to `stream_version`."""

    name: str
    as_of: str
    stream_version: int
    description: str
    status: str
    snapshot_version: int
    values: dict[str, Any]
    outputs: dict[str, Any]
    lock: dict[str, Any] | None
    created_at: str
    updated_at: str


class NotYetExisting(NotFound):
    def __init__(self, name: str, when: str) -> None:
        super().__init__(f"stack '{name}' did not exist yet at {when}", stack=name)


def stack_as_of(store: Application[UUID], connection: Connection, name: str, *,
                at: datetime | None = None, event_id: int | None = None) -> StackAsOf:
    """Replay the stack's stream up to the last event at or before `at` / `event_id`."""
    identity = stack_id(name)
    if not is_known_stack(connection, str(identity)):
        raise StackNotFound(name)
    moment = to_text(at) if at is not None else None
    version = stream_version_at(connection, str(identity), at=moment, event_id=event_id)
    when = f"event {event_id}" if event_id is not None else f"{moment}"
    if version is None:
        raise NotYetExisting(name, when)
    stack: Stack = store.repository.get(identity, version=version)
    lock = stack.lock.model_dump(mode="json") if stack.lock is not None else None
    return StackAsOf(
        name=stack.name, as_of=when, stream_version=stack.version,
        description=stack.description, status=stack.status.value,
        snapshot_version=stack.last_version, values=stack.values, outputs=stack.outputs,
        lock=lock, created_at=to_text(stack.created_at), updated_at=to_text(stack.modified_on),
    )
