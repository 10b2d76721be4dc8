"""Resources a stack declares: what they are, what they depend on, and how a new set is planned."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from domain.errors import Conflict, InvalidInput, NotFound
from domain.names import validate_key

MAX_RESOURCES = 100_000
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_.-]*")


class Resource(BaseModel):
    """A declared resource: its type's provider observes it and makes it match `attributes`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str
    attributes: dict[str, Any] = {}
    depends_on: tuple[str, ...] = ()
    record_only: bool = False
    """A record of something another tool manages (Terraform's state, an import): nothing
    observes or repairs it, so drift never looks at it."""

    @field_validator("depends_on")
    @classmethod
    def _as_set(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Order carries no meaning; one spelling keeps equal declarations equal.
        return tuple(sorted(set(value)))

    def changes_from(self, before: Resource) -> list[str]:
        """What differs from an earlier declaration: attribute names, `type`, `depends_on`."""
        changed = ["type"] if self.type != before.type else []
        keys = dict.fromkeys([*before.attributes, *self.attributes])
        changed += [key for key in keys if before.attributes.get(key, _ABSENT)
                    != self.attributes.get(key, _ABSENT)]
        if self.depends_on != before.depends_on:
            changed.append("depends_on")
        return changed


_ABSENT = object()


class ResourceUpdate(BaseModel):
    """A resource whose declaration changes, and which of its fields do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: Resource
    changed: tuple[str, ...]


class ResourcePlan(BaseModel):
    """What making a stack's declarations match a new set does: added, changed, removed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    added: tuple[Resource, ...] = ()
    changed: tuple[ResourceUpdate, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


class ResourceNotFound(NotFound):
    def __init__(self, stack: str, name: str) -> None:
        super().__init__(f"resource '{name}' not found in stack '{stack}'", stack=stack,
                         resource=name)


class ResourceInUse(Conflict):
    def __init__(self, stack: str, name: str, dependents: Sequence[str]) -> None:
        super().__init__(
            f"resource '{name}' of stack '{stack}' is needed by {_quoted(dependents)}; "
            "remove or change those first", stack=stack, resource=name)


class ResourcesChanged(Conflict):
    """The declarations changed between observing the real world and recording it."""

    def __init__(self, stack: str) -> None:
        super().__init__(
            f"the resources of stack '{stack}' were changed while this command observed them; "
            "run it again", stack=stack)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def validate_type_name(type_name: str, resource: str) -> str:
    if not _TYPE_NAME.fullmatch(type_name):
        raise InvalidInput(
            f"resource '{resource}': invalid type '{type_name}': use lower-case letters, digits,"
            " '_', '-' and '.', starting with a letter", resource=resource)
    return type_name


def validate_declarations(resources: Sequence[Resource]) -> None:
    """A set of declarations is usable: valid, unique names; dependencies declared; no cycle.

    Errors name the offending resource in `details["resource"]`, so a file loader can
    point at its line.
    """
    if len(resources) > MAX_RESOURCES:
        raise InvalidInput(f"at most {MAX_RESOURCES} resources per stack")
    names: set[str] = set()
    for resource in resources:
        try:
            validate_key(resource.name, "resource name")
        except InvalidInput as exc:
            raise InvalidInput(str(exc), resource=resource.name) from None
        validate_type_name(resource.type, resource.name)
        if resource.name in names:
            raise InvalidInput(f"duplicate resource name '{resource.name}'",
                               resource=resource.name)
        names.add(resource.name)
    for resource in resources:
        for needed in resource.depends_on:
            if needed == resource.name:
                raise InvalidInput(f"resource '{resource.name}' depends on itself",
                                   resource=resource.name)
            if needed not in names:
                raise InvalidInput(
                    f"resource '{resource.name}' depends on '{needed}', which is not declared",
                    resource=resource.name)
    dependency_order({r.name: r for r in resources})


def dependency_order(resources: Mapping[str, Resource]) -> list[str]:
    """Resource names, every dependency before what depends on it: level by level, by name."""
    # A resource that depends on none and that none depends on is on the first level: only
    # the others need sorting (most declarations of a large stack are such).
    needed = {dependency for resource in resources.values() for dependency in resource.depends_on}
    alone = [name for name, resource in resources.items()
             if not resource.depends_on and name not in needed]
    if len(alone) == len(resources):
        return sorted(alone)
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in sorted(resources):
        if resources[name].depends_on or name in needed:
            sorter.add(name, *resources[name].depends_on)
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = [str(node) for node in exc.args[1]]
        raise InvalidInput(
            f"resources depend on each other in a cycle: {' -> '.join(reversed(cycle))}",
            resource=cycle[0]) from None
    order: list[str] = []
    first = True
    while sorter.is_active():
        ready = sorter.get_ready()
        order.extend(sorted([*ready, *alone]) if first else sorted(ready))
        first = False
        sorter.done(*ready)
    return order


def dependents_of(resources: Mapping[str, Resource], name: str) -> list[str]:
    """The resources that directly depend on `name`."""
    return sorted(other.name for other in resources.values() if name in other.depends_on)


def plan_declarations(current: Mapping[str, Resource], desired: Sequence[Resource]) -> ResourcePlan:
    """Declare what is new, update what changed, remove what the new set leaves out."""
    wanted = {resource.name: resource for resource in desired}
    added, changed, unchanged = [], [], []
    for name in sorted(wanted):
        resource = wanted[name]
        before = current.get(name)
        if before is None:
            added.append(resource)
        elif resource != before:
            changed.append(ResourceUpdate(resource=resource,
                                          changed=tuple(resource.changes_from(before))))
        else:
            unchanged.append(name)
    removed = tuple(sorted(name for name in current if name not in wanted))
    return ResourcePlan(added=tuple(added), changed=tuple(changed), removed=removed,
                        unchanged=tuple(unchanged))
