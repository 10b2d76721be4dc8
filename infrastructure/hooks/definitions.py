"""The hooks in force, wherever they are defined, and the stack names events are about.

Light on purpose: a command that wrote events asks this much to learn whether any hook
wants them; the delivery machinery is imported only when one does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

import orjson

from domain.hooks import HookNotFound, HookSpec, glob_matcher, validate_hook_name
from infrastructure.sql import Connection

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from infrastructure.settings import HookSettings

EVENTS, CONFIG = "events", "config"
"""Where a hook is defined: added with `hooks add` (recorded as events), or in the config
file."""


# ---- the hooks in force -----------------------------------------------------------------------

class HookDefinition(NamedTuple):
    """A hook as the deliverers see it, wherever it is defined."""

    name: str
    spec: HookSpec
    source: str
    enabled: bool
    incarnation: int
    """Added hooks: how many times the name was added; config hooks: 0."""
    from_start: bool
    start: int | None
    """Where its deliveries begin; None: the log's head when a deliverer first sees it."""
    shadowed: bool = False
    """A config hook whose name an added hook has taken: it does not run."""

    @property
    def active(self) -> bool:
        return self.enabled and not self.shadowed

    def matcher(self) -> Callable[[str, str], bool]:
        """A fast `(event type, stack name) -> wanted?`."""
        types = glob_matcher(self.spec.on)
        stacks = glob_matcher(self.spec.stacks)
        if types is None:
            return lambda kind, stack: False
        types_match = types.fullmatch
        if stacks is None:
            return lambda kind, stack: types_match(kind) is not None
        stacks_match = stacks.fullmatch
        return lambda kind, stack: (types_match(kind) is not None and bool(stack)
                                    and stacks_match(stack) is not None)


def hook_definitions(connection: Connection,
                     settings: HookSettings) -> list[HookDefinition]:
    """Every hook: added ones (not removed) and those the config file declares, by name."""
    from projections.queries.hooks import list_hooks

    added = {record.name: HookDefinition(
        name=record.name, spec=HookSpec.model_validate(record.spec), source=EVENTS,
        enabled=record.enabled, incarnation=record.incarnation, from_start=record.from_start,
        start=record.start) for record in list_hooks(connection)}
    declared = {hook.name: HookDefinition(
        name=hook.name, spec=hook.spec, source=CONFIG, enabled=hook.enabled, incarnation=0,
        from_start=hook.from_start, start=0 if hook.from_start else None,
        shadowed=hook.name in added) for hook in settings.declared}
    merged = [*added.values(), *(hook for hook in declared.values())]
    return sorted(merged, key=lambda hook: (hook.name, hook.source != EVENTS))


def find_definition(connection: Connection, settings: HookSettings,
                    name: str) -> HookDefinition:
    """The hook that runs under this name (an added one before a config one)."""
    validate_hook_name(name)
    for hook in hook_definitions(connection, settings):
        if hook.name == name and not hook.shadowed:
            return hook
    raise HookNotFound(name)


def known_hook(connection: Connection, settings: HookSettings, name: str) -> None:
    """A hook that exists or existed (removed ones keep their deliveries); else not found."""
    from projections.queries.hooks import find_hook

    validate_hook_name(name)
    if find_hook(connection, name) is None and not any(
            hook.name == name for hook in settings.declared):
        raise HookNotFound(name)


class StackNames:
    """Stack names by id: from the read model, and learned from `stack.created` events."""

    def __init__(self, load: Callable[[], Mapping[str, str]]) -> None:
        self._load = load
        self._names: dict[str, str] = {}
        self._stack_topics = _stack_topics()

    def of(self, notification: Notification) -> str:
        """The name of the stack the event is about ('' for an event of no stack)."""
        if notification.topic not in self._stack_topics:
            return ""
        key = str(notification.originator_id)
        if notification.topic == "stack.created":
            self._names[key] = str(orjson.loads(notification.state).get("name", ""))
        name = self._names.get(key)
        if name is None:
            self._names.update(self._load())
            name = self._names.setdefault(key, "")
        return name


def _stack_topics() -> frozenset[str]:
    from domain.events import DomainEvent
    from domain.stack import Stack

    return frozenset(cls.TOPIC for cls in vars(Stack).values()
                     if isinstance(cls, type) and issubclass(cls, DomainEvent)
                     and "TOPIC" in vars(cls))
