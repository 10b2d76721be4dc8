"""The schema of the YAML config file, validated with pydantic."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from domain.durations import parse_duration
from domain.errors import InvalidInput


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 90s, 30m, 1h or 30d, got {value!r}")
    try:
        return parse_duration(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class StacksSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    database_path: str | None = None
    auto_lock: bool = False
    auto_snapshot: bool = False
    lock_timeout: Duration = timedelta(hours=1)
    snapshot_retention: Duration = timedelta(days=30)
    max_concurrent_executions: int = Field(default=10, ge=1, le=10_000)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stacks: StacksSection = StacksSection()


def describe_errors(error: ValidationError) -> str:
    """One line naming each offending key and why it is wrong."""
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        else:
            reason = item["msg"].removeprefix("Value error, ")
        parts.append(f"{key}: {reason}")
    return "; ".join(parts)
