"""Commands are data: validated once, at the edge, before any handler runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from domain.errors import InvalidInput
from domain.names import validate_key, validate_stack_name
from domain.resources import Resource

StackName = Annotated[str, AfterValidator(validate_stack_name)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StackCommand(Command):
    stack: StackName


class CreateStack(StackCommand):
    description: str = ""
    depends_on: list[StackName] = Field(default_factory=list)


class UpdateStack(StackCommand):
    description: str | None = None


class DestroyStack(StackCommand):
    reason: str = ""
    force: bool = False


class SetValues(StackCommand):
    values: dict[str, Any] = Field(min_length=1)


class UnsetValues(StackCommand):
    keys: list[str] = Field(min_length=1)


class ChangeOutputs(StackCommand):
    set: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


def parse_assignments(items: list[str], *, kind: str = "key") -> dict[str, Any]:
    """Parse `KEY=VALUE` (a string) and `KEY:=JSON` (any JSON value) into a mapping."""
    result: dict[str, Any] = {}
    for item in items:
        key, separator, raw = item.partition("=")
        if not separator:
            raise InvalidInput(f"expected KEY=VALUE or KEY:=JSON, got '{item}'")
        if key.endswith(":"):
            key = key[:-1]
            validate_key(key, kind)
            try:
                value: Any = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"invalid JSON for '{key}': {exc}") from None
        else:
            validate_key(key, kind)
            value = raw
        result[key] = value
    return result


class AcquireLock(StackCommand):
    ttl: timedelta
    wait: timedelta | None = None
    locked_by: str | None = None
    operation: str = ""
    reason: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    lock_id: str | None = None
    """The id the new lock gets (a fresh one when not given)."""


class ReleaseLock(StackCommand):
    unlocked_by: str | None = None


class RenewLock(StackCommand):
    ttl: timedelta


class ForceReleaseLock(StackCommand):
    reason: str = ""
    lock_id: str | None = None


class CreateSnapshot(StackCommand):
    description: str = ""
    creator: str | None = None


class SnapshotCommand(StackCommand):
    version: int = Field(ge=0)


class DeleteSnapshot(SnapshotCommand):
    pass


class RestoreSnapshot(SnapshotCommand):
    pass


class PruneSnapshots(StackCommand):
    older_than: timedelta
    keep: int = Field(default=1, ge=0)


def parse_metadata(items: list[str]) -> dict[str, str]:
    """Parse `KEY=VALUE` lock metadata (values stay strings)."""
    result: dict[str, str] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise InvalidInput(f"invalid --metadata '{item}': expected KEY=VALUE")
        result[key] = value
    return result


class AddDependencies(StackCommand):
    dependencies: list[StackName] = Field(min_length=1)


class RemoveDependencies(StackCommand):
    dependencies: list[StackName] = Field(min_length=1)


class DeclareResources(StackCommand):
    """Make a stack's declared resources match this set (from a resources file)."""

    resources: list[Resource]
    dry_run: bool = False


class RemoveResource(StackCommand):
    name: str


class DetectDrift(StackCommand):
    pass


class FixDrift(StackCommand):
    resources: list[str] = Field(default_factory=list)
    """Only these resources (all when empty)."""
    accept: bool = False
    """Adopt the observed state as the desired state instead of changing the real world."""
    dry_run: bool = False
