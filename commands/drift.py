"""Observing and repairing the real world through resource providers, outside the domain.

The providers (files, directories, command probes, plug-ins) live in `infrastructure/`; the
write side sees them only through `ResourceProviders`. What they find or do is handed to the
Stack aggregate, which records it as events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from domain.drift import (
    DriftReport,
    DriftStatus,
    FixMode,
    ResourceDrift,
    ResourceFix,
    assess,
    fix_outcome,
    skipped,
    unreadable,
)
from domain.resources import Resource


class ResourceProviders(Protocol):
    """The providers of every resource type, as the write side uses them."""

    def normalize(self, resource: Resource) -> Resource:
        """The resource with its attributes validated for its type (InvalidInput if not)."""

    def expected(self, resource: Resource) -> dict[str, Any]:
        """The observable attributes the desired state implies."""

    def read(self, resource: Resource) -> dict[str, Any]:
        """Observe the real world; raise with a reason when it cannot be read."""

    def apply(self, resource: Resource) -> None:
        """Make the real world match the desired state; raise with a reason on failure."""

    def adopt(self, resource: Resource, observed: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes that make the observed state the desired one."""


class FixPlan(BaseModel):
    """What a fix is about to act on: every selected resource that is not in sync."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: FixMode
    resources: tuple[ResourceDrift, ...]
    checked: int
    """How many resources were observed to make the plan."""


def failure_reason(error: BaseException) -> str:
    """One line saying why a provider could not read or change something."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def observe_one(resource: Resource, providers: ResourceProviders) -> ResourceDrift:
    try:
        expected = providers.expected(resource)
        observed = providers.read(resource)
    except Exception as error:  # a probe that cannot read marks its resource, nothing more
        return unreadable(resource, failure_reason(error))
    return assess(resource, expected, observed)


def observe(resources: Iterable[Resource], providers: ResourceProviders) -> DriftReport:
    """Observe each resource; one that cannot be read is `unknown`, the others still count."""
    return DriftReport(resources=tuple(observe_one(r, providers) for r in resources))


def repair(targets: Sequence[ResourceDrift], resources: Mapping[str, Resource],
           providers: ResourceProviders) -> list[ResourceFix]:
    """Apply the desired state to each target (dependencies first) and observe it again.

    A resource whose dependency could not be fixed is skipped, not attempted.
    """
    not_fixed: set[str] = set()
    fixes: list[ResourceFix] = []
    for before in targets:
        resource = resources[before.name]
        blocker = next((name for name in resource.depends_on if name in not_fixed), None)
        if blocker is not None:
            fixes.append(skipped(before, blocker))
            not_fixed.add(resource.name)
            continue
        error = ""
        try:
            providers.apply(resource)
        except Exception as exc:  # recorded as this resource's failure; the others go on
            error = failure_reason(exc)
        fix = fix_outcome(before, observe_one(resource, providers), mode=FixMode.APPLY,
                          error=error)
        if not fix.succeeded:
            not_fixed.add(resource.name)
        fixes.append(fix)
    return fixes


def adopt(targets: Sequence[ResourceDrift], resources: Mapping[str, Resource],
          providers: ResourceProviders) -> tuple[list[Resource], list[ResourceFix]]:
    """The declarations that make each target's observed state its desired state.

    Nothing in the real world is changed. A resource whose state is unknown cannot be
    adopted.
    """
    adopted: list[Resource] = []
    fixes: list[ResourceFix] = []
    for before in targets:
        resource = resources[before.name]
        if before.status is DriftStatus.UNKNOWN or before.observed is None:
            fixes.append(fix_outcome(before, before, mode=FixMode.ACCEPT,
                                     error=f"its state is unknown ({before.reason})"))
            continue
        try:
            attributes = providers.adopt(resource, before.observed)
            candidate = providers.normalize(Resource(
                name=resource.name, type=resource.type, attributes=attributes,
                depends_on=resource.depends_on))
        except Exception as exc:  # this resource cannot be adopted; the others can
            fixes.append(fix_outcome(before, before, mode=FixMode.ACCEPT,
                                     error=failure_reason(exc)))
            continue
        fix = fix_outcome(before, observe_one(candidate, providers), mode=FixMode.ACCEPT)
        if fix.succeeded:
            adopted.append(candidate)
        fixes.append(fix)
    return adopted, fixes
