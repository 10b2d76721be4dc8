"""The write side of hooks: add, remove, enable and disable, each recorded as an event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError

from domain.errors import Conflict
from domain.events import DomainEvent
from domain.hooks import (
    EVENT_TYPES,
    Hook,
    HookAction,
    HookExists,
    HookNotFound,
    HookSpec,
    hook_id,
    unmatched_globs,
    validate_hook_name,
)
from domain.invocation import Invocation
from domain.stack import Stack

MAX_ATTEMPTS = 25


def known_event_types() -> list[str]:
    """Every event type this release records (plug-ins may add more)."""
    stack_types = [cls.TOPIC for cls in vars(Stack).values()
                   if isinstance(cls, type) and issubclass(cls, DomainEvent)
                   and "TOPIC" in vars(cls)]
    return sorted({*stack_types, *(cls.TOPIC for cls in EVENT_TYPES)})


@dataclass(frozen=True)
class HookOutcome:
    """What a hook command did: the events it appended and the version it left."""

    hook: str
    hook_id: str
    version: int
    events: list[str]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"hook": self.hook, "hook_id": self.hook_id, "version": self.version,
                "events": self.events, **self.detail}


@dataclass(frozen=True)
class AddHook:
    """A hook to add, its definition already checked against the domain's rules."""

    name: str
    spec: HookSpec
    from_start: bool = False


ActionCheck = Callable[[HookAction], None]
"""Checks an action against the outside world (a Lua file defines the function)."""

DeclaredElsewhere = Callable[[str], str | None]
"""Where a hook name is declared outside the event log (the config file), if it is."""


class HookService:
    """Handles hook commands against the event store, retrying on concurrent writes."""

    def __init__(self, store: Application[UUID], clock: Callable[[], datetime], *,
                 check_action: ActionCheck | None = None,
                 declared_elsewhere: DeclaredElsewhere | None = None) -> None:
        self.store = store
        self.clock = clock
        self.check_action = check_action or (lambda action: None)
        self.declared_elsewhere = declared_elsewhere or (lambda name: None)

    def add(self, command: AddHook, invocation: Invocation) -> HookOutcome:
        """Add a hook; the outcome's `unmatched` lists globs that match no known event type."""
        validate_hook_name(command.name)
        where = self.declared_elsewhere(command.name)
        if where is not None:
            raise HookExists(command.name, f" (declared in {where})")
        try:
            self.load(command.name)
        except HookNotFound:
            pass
        else:
            raise HookExists(command.name)
        self.check_action(command.spec.action)
        unmatched = unmatched_globs(command.spec.on, known_event_types())

        def attempt(inv: Invocation) -> tuple[Hook, dict[str, Any]]:
            try:
                hook = self._get(command.name)
            except AggregateNotFoundError:
                hook = Hook.add(command.name, command.spec, inv, from_start=command.from_start)
            else:
                hook.add_again(command.spec, inv, from_start=command.from_start)
            return hook, {"unmatched": unmatched, "from_start": command.from_start}

        return self._run(command.name, invocation, attempt)

    def remove(self, name: str, invocation: Invocation) -> HookOutcome:
        def remove(hook: Hook, inv: Invocation) -> dict[str, Any]:
            hook.remove(inv)
            return {}

        return self.change(name, invocation, remove)

    def enable(self, name: str, invocation: Invocation) -> HookOutcome:
        return self.change(name, invocation,
                           lambda hook, inv: {"changed": hook.enable(inv)})

    def disable(self, name: str, invocation: Invocation) -> HookOutcome:
        return self.change(name, invocation,
                           lambda hook, inv: {"changed": hook.disable(inv)})

    def load(self, name: str) -> Hook:
        """The hook as it is now; a removed or never added hook is not found."""
        validate_hook_name(name)
        try:
            hook = self._get(name)
        except AggregateNotFoundError:
            raise HookNotFound(name) from None
        if hook.removed:
            raise HookNotFound(name)
        return hook

    def change(self, name: str, invocation: Invocation,
               decide: Callable[[Hook, Invocation], dict[str, Any]]) -> HookOutcome:
        """Load the hook, apply one decision and save it."""
        def attempt(inv: Invocation) -> tuple[Hook, dict[str, Any]]:
            hook = self.load(name)
            return hook, decide(hook, inv)

        return self._run(name, invocation, attempt)

    def _get(self, name: str) -> Hook:
        hook: Hook = self.store.repository.get(hook_id(name))
        return hook

    def _run(self, name: str, invocation: Invocation,
             attempt: Callable[[Invocation], tuple[Hook, dict[str, Any]]]) -> HookOutcome:
        for _ in range(MAX_ATTEMPTS):
            inv = invocation.model_copy(update={"at": self.clock()})
            hook, detail = attempt(inv)
            pending = [getattr(type(event), "TOPIC", "") for event in hook.pending_events]
            try:
                self.store.save(hook)
            except RecordConflictError:
                continue
            return HookOutcome(name, str(hook.id), hook.version, pending, detail)
        raise Conflict(f"hook '{name}' kept changing under this command ({MAX_ATTEMPTS} "
                       "attempts); try again", hook=name)
