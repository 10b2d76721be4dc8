"""Commands are data: validated once, at the edge, before any handler runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.errors import InvalidInput
from domain.names import validate_key, validate_stack_name
from domain.resources import Resource
from domain.secrets import refuse_marker
from domain.values import INT64_MAX, INT64_MIN, IntegerOutOfRange, check_json_value

StackName = Annotated[str, AfterValidator(validate_stack_name)]


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        check_json_value(key, value)
        refuse_marker(key, value)
    return values


def _storable_secrets(values: dict[str, Any]) -> dict[str, Any]:
    """Like `_storable`, but a refusal never quotes the value."""
    for key, value in values.items():
        try:
            check_json_value(key, value)
        except InvalidInput:
            raise InvalidInput(f"invalid secret value for '{key}': not a storable JSON value "
                               "(the value is not shown)", key=key) from None
    return values


JsonValues = Annotated[dict[str, Any], AfterValidator(_storable)]
SecretValues = Annotated[dict[str, Any], AfterValidator(_storable_secrets)]
"""Plaintext secrets on their way to being sealed; they are never stored as they are."""


class Command(BaseModel):
    """Validated input: whatever breaks a field's rule is InvalidInput, like any bad input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInput(_first_problem(exc)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "input"
    return f"invalid {where}: {problem['msg']}"


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
    values: JsonValues = Field(default_factory=dict)
    secrets: SecretValues = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something_to_set(self) -> SetValues:
        if not self.values and not self.secrets:
            raise InvalidInput("invalid values: give at least one KEY=VALUE (or a secret)")
        _apart(self.values, self.secrets)
        return self


def _apart(plain: dict[str, Any], secret: dict[str, Any]) -> None:
    both = sorted(plain.keys() & secret.keys())
    if both:
        raise InvalidInput(f"'{both[0]}' is given both as a plain value and as a secret",
                           key=both[0])


class UnsetValues(StackCommand):
    keys: list[str] = Field(min_length=1)


class ChangeOutputs(StackCommand):
    set: JsonValues = Field(default_factory=dict)
    set_secrets: SecretValues = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_apart(self) -> ChangeOutputs:
        _apart(self.set, self.set_secrets)
        return self


def parse_assignments(items: list[str], *, kind: str = "key") -> dict[str, Any]:
    """Parse `KEY=VALUE` (a string) and `KEY:=JSON` (any JSON value) into a mapping.

    `KEY=@PATH` takes the text of a file and `KEY:=@PATH` a JSON file, for values too large
    for a command line; `KEY=\\@TEXT` is the string `@TEXT`.
    """
    result: dict[str, Any] = {}
    for item in items:
        key, separator, raw = item.partition("=")
        if not separator:
            raise InvalidInput(f"expected KEY=VALUE or KEY:=JSON, got '{_clipped(item)}'")
        if key.endswith(":"):
            key = validate_key(key[:-1], kind)
            if raw.startswith("@"):
                value: Any = parse_json_value(key, _read_file(key, raw[1:]),
                                              source=f" in '{_clipped(raw[1:])}'")
            else:
                value = parse_json_value(key, raw)
        else:
            validate_key(key, kind)
            if raw.startswith("\\@"):
                value = raw[1:]
            elif raw.startswith("@"):
                value = _read_file(key, raw[1:])
            else:
                value = raw
        result[key] = value
    return result


def parse_secret_assignments(items: list[str], *, kind: str = "key") -> dict[str, Any]:
    """`parse_assignments` for secrets: a refusal names the key, never the value."""
    result: dict[str, Any] = {}
    for item in items:
        key, separator, raw = item.partition("=")
        if not separator:
            raise InvalidInput("expected KEY=VALUE or KEY:=JSON for a secret (what was given "
                               "is not shown)")
        name = validate_key(key[:-1] if key.endswith(":") else key, kind)
        try:
            result.update(parse_assignments([item], kind=kind))
        except InvalidInput as exc:
            about_the_file = raw.startswith("@") and str(exc).startswith(
                ("cannot read", "no file named"))
            if about_the_file:
                raise
            raise InvalidInput(f"invalid secret value for '{name}': not valid JSON, or a number "
                               "out of range (the value is not shown)", key=name) from None
    return result


def parse_json_value(key: str, text: str, *, source: str = "") -> Any:
    """The JSON value of `text`; integers beyond signed 64 bits are refused, not rounded."""
    try:
        value = orjson.loads(text)
        if _has_float(value):
            # orjson reads integers beyond 64 bits as floats; only the text tells which.
            json.loads(text, parse_int=lambda literal: _int64(key, literal))
    except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError
        raise InvalidInput(f"invalid JSON{source} for '{key}': {exc}") from None
    return check_json_value(key, value)


def _int64(key: str, literal: str) -> int:
    digits = literal.lstrip("-").lstrip("0")
    if len(digits) > 19 or not INT64_MIN <= int(literal) <= INT64_MAX:
        raise IntegerOutOfRange(key, literal)
    return int(literal)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


def _read_file(key: str, path: str) -> str:
    """The text of the file a `KEY=@PATH` names."""
    if not path:
        raise InvalidInput(f"no file named after '@' for '{key}' (a value that starts with "
                           f"'@' is written {key}=\\@...)")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"cannot read '{_clipped(path)}' for '{key}': not UTF-8 text") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidInput(f"cannot read '{_clipped(path)}' for '{key}': {reason}") from None


def _clipped(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
