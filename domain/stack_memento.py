"""Library-level snapshots of a stack, so that loading one does not grow with its history.

Not to be confused with the snapshots a user takes (`snapshot.created`, state versions): these
are the event store's own, taken every so many events and invisible to users.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.events import upcast
from domain.executions import RunningExecution
from domain.locks import LockInfo
from domain.resources import Resource
from domain.stack_events import StackStatus
from domain.terraform import TerraformState
from domain.versions import VersionMark

if TYPE_CHECKING:
    from domain.stack import Stack


class StackMemento(BaseModel):
    """The whole state of a Stack: every attribute its events set, by the same names."""

    model_config = ConfigDict(extra="forbid")

    created_on: datetime
    modified_on: datetime
    name: str
    description: str
    status: StackStatus
    incarnation: int
    created_at: datetime
    destroyed_at: datetime | None
    values: dict[str, Any]
    outputs: dict[str, Any]
    lock: LockInfo | None = None
    lock_generation: int = 0
    versions: dict[int, VersionMark] = {}
    last_version: int = 0
    dependencies: list[str] = []
    resources: dict[str, Resource] = {}
    running: dict[str, RunningExecution] = {}
    terraform: TerraformState | None = None
    imports: tuple[str, ...] = ()


_STATE = tuple(name for name in StackMemento.model_fields
               if name not in ("created_on", "modified_on"))


def memento_of(aggregate: Stack) -> StackMemento:
    """The stack's whole state as a memento."""
    return StackMemento.model_validate({
        "created_on": aggregate.created_on, "modified_on": aggregate.modified_on,
        **{name: getattr(aggregate, name) for name in _STATE}})


class StackSnapshot(BaseModel):
    """A stored library-level snapshot: the memento and where in the stream it was taken."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str] = "stack.snapshot"

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]

    @classmethod
    def take(cls, aggregate: Stack) -> StackSnapshot:
        state = memento_of(aggregate).model_dump(mode="json")
        if type(aggregate).class_version > 1:
            state["class_version"] = type(aggregate).class_version
        return cls(originator_id=aggregate.id, originator_version=aggregate.version,
                   timestamp=aggregate.modified_on, topic=type(aggregate).TOPIC,
                   state=state)

    def mutate(self, _: None) -> Stack:
        from domain.stack import Stack  # the aggregate's module binds this class to it

        memento = StackMemento.model_validate(upcast(Stack, dict(self.state)))
        stack = Stack.__new__(Stack)
        stack.__base_init__(originator_id=self.originator_id,
                            originator_version=self.originator_version,
                            timestamp=memento.created_on)
        stack.modified_on = memento.modified_on
        for name in _STATE:
            setattr(stack, name, getattr(memento, name))
        # Containers the aggregate changes in place must not be shared with the memento.
        stack.dependencies = list(memento.dependencies)
        stack.resources = dict(memento.resources)
        stack.running = dict(memento.running)
        return stack
