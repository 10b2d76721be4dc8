"""The schema of the YAML config file, validated with pydantic.

A setting is held to the same bounds as the option it stands for (`lock_timeout` is the
default `--ttl`), so a config file can never make every later command fail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.durations import coerce_duration
from domain.errors import InvalidInput
from domain.hooks import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    HookAction,
    HookSpec,
    split_lua_target,
    validate_hook_name,
    validate_timeout,
)
from domain.locks import validate_ttl
from infrastructure.settings import DeclaredHook, HookSettings


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


def _key_path(value: str) -> str:
    if not value.strip() or "\x00" in value or len(value) > 4096:
        raise ValueError("expected the path of a key file")
    return value


KeyPath = Annotated[str, AfterValidator(_key_path)]
KeyPaths = Annotated[list[KeyPath], BeforeValidator(lambda value: [value] if isinstance(value, str)
                                                    else value), Field(max_length=16)]


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
    secret_key_file: KeyPath | None = None
    secret_fallback_key_file: KeyPaths = []
    encrypt_events: bool = False
    events_key_file: KeyPath | None = None

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


T = TypeVar("T")


def _hook_timeout(value: timedelta) -> timedelta:
    return _domain_rule(validate_timeout, value)


def _poll_interval(value: timedelta) -> timedelta:
    if not timedelta(milliseconds=10) <= value <= timedelta(hours=1):
        raise ValueError("must be from 10ms to 1h")
    return value


def _domain_rule(rule: Callable[[Any], T], value: Any) -> T:
    try:
        return rule(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


HookTimeout = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_hook_timeout)]
PollInterval = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_poll_interval)]
Globs = Annotated[list[str], BeforeValidator(lambda value: [value] if isinstance(value, str)
                                             else value)]


class HookDefinition(BaseModel):
    """A hook declared in the config file: `on` (and `stacks`) and one of `run`, `url`, `lua`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    on: Globs
    stacks: Globs = []
    run: str | list[str] | None = None
    shell: bool = False
    url: str | None = None
    secret_env: str | None = None
    lua: str | None = None
    timeout: HookTimeout = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    enabled: bool = True
    from_start: bool = False

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, value: Any) -> Any:
        """YAML 1.1 reads an unquoted `on:` key as the boolean true; it means `on`."""
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value

    _spec: HookSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_action(self, info: ValidationInfo) -> HookDefinition:
        given = [key for key in ("run", "url", "lua") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of run, url and lua")
        if self.secret_env is not None and self.url is None:
            raise ValueError("secret_env goes with url")
        if self.shell and self.run is None:
            raise ValueError("shell goes with run")
        base = (info.context or {}).get("base", Path.cwd())
        self._spec = _domain_rule(lambda _: self._build(base), None)
        return self

    @property
    def spec(self) -> HookSpec:
        assert self._spec is not None  # set by validation
        return self._spec

    def _build(self, base: Path) -> HookSpec:
        """The definition as the domain holds it (a Lua file relative to the config file)."""
        if self.run is not None:
            action = (HookAction.command_line(self.run, shell=self.shell)
                      if isinstance(self.run, str) else HookAction.command(self.run))
        elif self.url is not None:
            action = HookAction.webhook(self.url, self.secret_env or "")
        else:
            file, function = split_lua_target(self.lua or "")
            action = HookAction.lua(str((base / Path(file).expanduser()).resolve()) if file
                                    else "", function)
        return HookSpec.build(on=self.on, stacks=self.stacks, action=action,
                              timeout=self.timeout, retries=self.retries)


class HooksSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    inline: bool = True
    workers: int = Field(default=100, ge=1, le=1000)
    queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    poll_interval: PollInterval = timedelta(seconds=1)
    definitions: dict[str, HookDefinition] = {}

    @field_validator("definitions")
    @classmethod
    def _names(cls, value: dict[str, HookDefinition]) -> dict[str, HookDefinition]:
        for name in value:
            _domain_rule(validate_hook_name, name)
        return value

    def settings(self) -> HookSettings:
        declared = tuple(DeclaredHook(name, definition.spec, definition.enabled,
                                      definition.from_start)
                         for name, definition in self.definitions.items())
        return HookSettings(inline=self.inline, workers=self.workers, queue_size=self.queue_size,
                            poll_interval=self.poll_interval, declared=declared)


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stacks: StacksSection = StacksSection()
    hooks: HooksSection = HooksSection()

    @field_validator("stacks", "hooks", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        """A section with every setting commented out is an empty section, not an error."""
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
