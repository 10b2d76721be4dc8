"""User-visible snapshots: numbered versions of a stack's state, and differences between them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import InvalidInput, NotFound
from domain.resources import Resource
from domain.terraform import TerraformState

_VERSION = re.compile(r"[vV]?(\d{1,18})")
SYSTEM_CREATOR = "system"


def parse_version(text: str) -> int:
    """`v5` or `5` -> 5. Anything else is a usage error; v0 parses but never exists."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(f"invalid version '{text}': use v5 or 5")
    return int(match.group(1))


class StackState(BaseModel):
    """What a snapshot captures, and what a restore brings back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    status: str = "created"
    values: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    dependencies: list[str] = []
    resources: dict[str, Resource] = {}
    terraform: TerraformState | None = None
    """The Terraform state document the stack held, if any."""


class VersionMark(BaseModel):
    """A snapshot: version N names the stack's state at one position of its stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    position: int
    creator: str
    description: str
    created_at: datetime
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class SnapshotNotFound(NotFound):
    def __init__(self, stack: str, version: int) -> None:
        super().__init__(f"stack '{stack}' has no snapshot v{version}", stack=stack,
                         version=version)


class SnapshotDeleted(NotFound):
    def __init__(self, stack: str, mark: VersionMark) -> None:
        when = mark.deleted_at.strftime("%Y-%m-%d %H:%M:%S") if mark.deleted_at else "?"
        super().__init__(
            f"snapshot v{mark.version} of stack '{stack}' was deleted at {when} UTC "
            f"by {mark.deleted_by}", stack=stack, version=mark.version)


class Change(BaseModel):
    """One key whose value differs between two states."""

    model_config = ConfigDict(frozen=True)

    key: str
    before: Any = None
    after: Any = None


class SectionDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    added: list[Change] = []
    removed: list[Change] = []
    changed: list[Change] = []

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class StateDiff(BaseModel):
    """Everything that differs between two states of a stack."""

    model_config = ConfigDict(frozen=True)

    description: Change | None = None
    status: Change | None = None
    values: SectionDiff = SectionDiff()
    outputs: SectionDiff = SectionDiff()
    dependencies: SectionDiff = SectionDiff()
    resources: SectionDiff = SectionDiff()
    terraform: Change | None = None
    """A different Terraform state document (serial, lineage, sha256)."""

    @property
    def is_empty(self) -> bool:
        return (self.description is None and self.status is None and self.values.is_empty
                and self.outputs.is_empty and self.dependencies.is_empty
                and self.resources.is_empty and self.terraform is None)

    @property
    def count(self) -> int:
        """How many differences: each changed field, and each key added, removed or changed."""
        return (int(self.description is not None) + int(self.status is not None)
                + int(self.terraform is not None)
                + sum(len(s.added) + len(s.removed) + len(s.changed)
                      for s in (self.values, self.outputs, self.dependencies, self.resources)))


def same_json(a: Any, b: Any) -> bool:
    """JSON equality that tells 1 from 1.0 from True."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff_sections(before: dict[str, Any], after: dict[str, Any]) -> SectionDiff:
    return SectionDiff(
        added=[Change(key=k, after=after[k]) for k in sorted(after.keys() - before.keys())],
        removed=[Change(key=k, before=before[k]) for k in sorted(before.keys() - after.keys())],
        changed=[Change(key=k, before=before[k], after=after[k])
                 for k in sorted(before.keys() & after.keys()) if not same_json(before[k], after[k])],
    )


def diff_states(before: StackState, after: StackState) -> StateDiff:
    """What changes going from `before` to `after`."""
    return StateDiff(
        description=(Change(key="description", before=before.description,
                            after=after.description)
                     if before.description != after.description else None),
        status=(Change(key="status", before=before.status, after=after.status)
                if before.status != after.status else None),
        values=diff_sections(before.values, after.values),
        outputs=diff_sections(before.outputs, after.outputs),
        dependencies=diff_sections(dict.fromkeys(before.dependencies, True),
                                   dict.fromkeys(after.dependencies, True)),
        resources=diff_sections(_declarations(before), _declarations(after)),
        terraform=(Change(key="terraform",
                          before=before.terraform.summary() if before.terraform else None,
                          after=after.terraform.summary() if after.terraform else None)
                   if before.terraform != after.terraform else None),
    )


def _declarations(state: StackState) -> dict[str, Any]:
    """Each declared resource as JSON, without its name (the key)."""
    return {name: resource.model_dump(mode="json", exclude={"name"})
            for name, resource in state.resources.items()}
