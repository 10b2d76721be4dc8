"""Drift: how a resource's observed state compares with its desired state, and what a fix did."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.fix_results import FixResult, fix_succeeded
from domain.resources import Resource


class DriftStatus(StrEnum):
    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    UNKNOWN = "unknown"
    """The real world could not be read (permission denied, a probe timed out, ...)."""


class FixMode(StrEnum):
    APPLY = "apply"
    """The real world was made to match the desired state."""
    ACCEPT = "accept"
    """The observed state was adopted as the new desired state."""


class AttributeDrift(BaseModel):
    """One attribute whose observed value is not the expected one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str
    expected: Any
    actual: Any


class ResourceDrift(BaseModel):
    """What observing one resource found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str
    status: DriftStatus
    differences: tuple[AttributeDrift, ...] = ()
    observed: dict[str, Any] | None = None
    reason: str = ""


class DriftReport(BaseModel):
    """What observing every resource of a stack found, in dependency order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resources: tuple[ResourceDrift, ...] = ()

    def count(self, status: DriftStatus) -> int:
        return sum(1 for resource in self.resources if resource.status is status)

    @property
    def out_of_sync(self) -> tuple[ResourceDrift, ...]:
        """The resources a fix would act on: drifted, or in an unknown state."""
        return tuple(r for r in self.resources if r.status is not DriftStatus.IN_SYNC)

    @property
    def in_sync(self) -> bool:
        return not self.out_of_sync


class ResourceFix(BaseModel):
    """What a fix did to one resource, and what observing it afterwards found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str
    result: FixResult
    changes: tuple[AttributeDrift, ...] = ()
    """The differences the fix set out to remove (empty when the state was unknown)."""
    after: ResourceDrift
    reason: str = ""

    @property
    def succeeded(self) -> bool:
        return fix_succeeded(self.result)


def compare(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[AttributeDrift]:
    """The expected attributes the observation does not match.

    When a resource should exist and does not (or the other way round), that is the one
    difference worth reporting: its other attributes cannot be compared.
    """
    if "ensure" in expected and expected["ensure"] != observed.get("ensure"):
        return [AttributeDrift(attribute="ensure", expected=expected["ensure"],
                               actual=observed.get("ensure"))]
    return [AttributeDrift(attribute=key, expected=value, actual=observed.get(key))
            for key, value in expected.items() if observed.get(key) != value]


def assess(resource: Resource, expected: Mapping[str, Any],
           observed: dict[str, Any]) -> ResourceDrift:
    """The drift of a resource whose real state could be read."""
    differences = compare(expected, observed)
    return ResourceDrift(
        name=resource.name, type=resource.type,
        status=DriftStatus.DRIFTED if differences else DriftStatus.IN_SYNC,
        differences=tuple(differences), observed=observed)  # validating copies it


def unreadable(resource: Resource, reason: str) -> ResourceDrift:
    """The drift of a resource whose real state could not be read."""
    return ResourceDrift(name=resource.name, type=resource.type, status=DriftStatus.UNKNOWN,
                         reason=reason or "could not be read")


def fix_outcome(before: ResourceDrift, after: ResourceDrift, *, mode: FixMode,
                error: str = "") -> ResourceFix:
    """Judge one resource's fix by observing it again: only a match counts as fixed."""
    if error:
        result, reason = FixResult.FAILED, error
    elif after.status is DriftStatus.IN_SYNC:
        result = FixResult.ACCEPTED if mode is FixMode.ACCEPT else FixResult.REPAIRED
        reason = ""
    elif after.status is DriftStatus.UNKNOWN:
        result, reason = FixResult.FAILED, f"cannot be read after the fix: {after.reason}"
    else:
        result = FixResult.FAILED
        reason = "still drifted after the fix: " + ", ".join(
            d.attribute for d in after.differences)
    return ResourceFix(name=before.name, type=before.type, result=result,
                       changes=before.differences, after=after, reason=reason)


def skipped(before: ResourceDrift, failed_dependency: str) -> ResourceFix:
    """A resource left alone because one it depends on could not be fixed."""
    return ResourceFix(name=before.name, type=before.type, result=FixResult.SKIPPED,
                       changes=before.differences, after=before,
                       reason=f"'{failed_dependency}', which it depends on, was not fixed")
