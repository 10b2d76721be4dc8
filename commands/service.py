"""The write-side application service: load a stack, call one domain method, save, retry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError

from commands.models import (
    ChangeOutputs,
    CreateStack,
    DestroyStack,
    SetValues,
    UnsetValues,
    UpdateStack,
)
from domain.errors import ConcurrentModification, StackNotFound
from domain.invocation import Invocation
from domain.names import stack_id
from domain.stack import Stack

T = TypeVar("T")
MAX_ATTEMPTS = 25


@dataclass(frozen=True)
class Outcome:
    """What a command did: the events it appended and the stack version it left."""

    stack: str
    stack_id: str
    version: int
    events: list[str]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "stack_id": self.stack_id, "version": self.version,
                "events": self.events, **self.detail}


class StackService:
    """Handles stack commands against the event store, retrying on concurrent writes."""

    def __init__(self, store: Application[UUID], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    # ---- lifecycle ----------------------------------------------------------------------

    def create_stack(self, command: CreateStack, invocation: Invocation) -> Outcome:
        def attempt(inv: Invocation) -> tuple[Stack, dict[str, Any]]:
            try:
                stack = self._load(command.stack)
            except StackNotFound:
                return Stack.create(command.stack, command.description, inv), {"recreated": False}
            stack.recreate(command.description, inv)
            return stack, {"recreated": True}

        return self._run(command.stack, invocation, attempt)

    def update_stack(self, command: UpdateStack, invocation: Invocation) -> Outcome:
        return self._change(command.stack, invocation, lambda stack, inv: {
            "changed": stack.update(inv, description=command.description)})

    def destroy_stack(self, command: DestroyStack, invocation: Invocation) -> Outcome:
        def destroy(stack: Stack, inv: Invocation) -> dict[str, Any]:
            stack.destroy(inv, command.reason)
            return {}

        return self._change(command.stack, invocation, destroy)

    # ---- state values and outputs --------------------------------------------------------

    def set_values(self, command: SetValues, invocation: Invocation) -> Outcome:
        return self._change(command.stack, invocation, lambda stack, inv: {
            "changed": stack.set_values(command.values, inv)})

    def unset_values(self, command: UnsetValues, invocation: Invocation) -> Outcome:
        return self._change(command.stack, invocation, lambda stack, inv: {
            "deleted": stack.unset_values(command.keys, inv)})

    def change_outputs(self, command: ChangeOutputs, invocation: Invocation) -> Outcome:
        def change(stack: Stack, inv: Invocation) -> dict[str, Any]:
            changed = stack.set_outputs(command.set, inv) if command.set else []
            deleted = stack.unset_outputs(command.unset, inv) if command.unset else []
            return {"changed": changed, "deleted": deleted}

        return self._change(command.stack, invocation, change)

    # ---- machinery ----------------------------------------------------------------------

    def load(self, name: str, version: int | None = None) -> Stack:
        """The stack as it is now, or as it was at an aggregate version."""
        return self._load(name, version)

    def _load(self, name: str, version: int | None = None) -> Stack:
        try:
            stack: Stack = self.store.repository.get(stack_id(name), version=version)
        except AggregateNotFoundError:
            raise StackNotFound(name) from None
        return stack

    def _change(
        self,
        name: str,
        invocation: Invocation,
        action: Callable[[Stack, Invocation], dict[str, Any]],
    ) -> Outcome:
        def attempt(inv: Invocation) -> tuple[Stack, dict[str, Any]]:
            stack = self._load(name)
            return stack, action(stack, inv)

        return self._run(name, invocation, attempt)

    def _run(
        self,
        name: str,
        invocation: Invocation,
        attempt: Callable[[Invocation], tuple[Stack, dict[str, Any]]],
    ) -> Outcome:
        """Run an attempt and save; on a concurrent write, reload and decide again."""
        for _ in range(MAX_ATTEMPTS):
            # A fresh time per attempt keeps each stream's timestamps in order.
            inv = invocation.model_copy(update={"at": self.clock()})
            stack, detail = attempt(inv)
            pending: list[str] = [getattr(type(event), "TOPIC", "") for event in stack.pending_events]
            try:
                self.store.save(stack)
            except RecordConflictError:
                continue
            return Outcome(name, str(stack.id), stack.version, pending, detail)
        raise ConcurrentModification(name, MAX_ATTEMPTS)
