"""The schema of the YAML config file, validated with pydantic.

A setting is held to the same bounds as the option it stands for (`lock_timeout` is the
default `--ttl`), so a config file can never make every later command fail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.durations import coerce_duration
from domain.errors import InvalidInput
from domain.locks import validate_ttl


def _duration(value: Any) -> timedelta:
    return coerce_duration(value)


def _lease(value: timedelta) -> timedelta:
    """The bounds of `--ttl`, from the domain rule itself, without naming the flag."""
    try:
        return validate_ttl(value)
    except InvalidInput as exc:
        raise ValueError(str(exc).partition(": ")[2] or str(exc)) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]
LockTimeout = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_lease)]
Retention = Annotated[timedelta, BeforeValidator(_duration)]


class StacksSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    database_path: str | None = None
    database_url: str | None = None
    """A PostgreSQL database (postgresql://user@host:port/db) instead of a SQLite file."""
    auto_lock: bool = False
    auto_snapshot: bool = False
    lock_timeout: LockTimeout = timedelta(hours=1)
    snapshot_retention: Retention = timedelta(days=30)
    max_concurrent_executions: int = Field(default=10, ge=1, le=10_000)

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from infrastructure.errors import SettingsError
        from infrastructure.postgres import parse_database_url, redact

        if value is None:
            return None
        try:
            parse_database_url(value)
        except SettingsError as exc:
            # the message quotes the URL itself (password hidden); the key is named already
            raise ValueError(str(exc).replace(f"database URL {redact(value.strip())!r}",
                                              "the URL", 1)) from None
        return value.strip()

    @model_validator(mode="after")
    def _one_database(self) -> StacksSection:
        if self.database_path and self.database_url:
            raise ValueError("give database_path (SQLite) or database_url (PostgreSQL), "
                             "not both")
        return self


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stacks: StacksSection = StacksSection()

    @field_validator("stacks", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        """`stacks:` with every setting commented out is an empty section, not an error."""
        return {} if value is None else value


# Pydantic's messages for these name our model classes; users wrote a YAML mapping.
_NOT_A_MAPPING = {"model_type", "model_attributes_type", "dict_type"}


def describe_errors(error: ValidationError) -> str:
    """One line naming each offending key and why it is wrong."""
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        elif item["type"] in _NOT_A_MAPPING:
            reason = f"expected a mapping of settings, got {_kind(item['input'])}"
        else:
            reason = item["msg"].removeprefix("Value error, ")
        parts.append(f"{key}: {reason}")
    return "; ".join(parts)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return repr(value)
