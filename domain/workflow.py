"""Workflows: tasks with dependencies, run under a configuration, and what each run produced.

Pure data and rules only. Loading a `.sloth` file, running Lua and scheduling live outside
the domain; they speak to each other in these types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.durations import coerce_duration, format_duration
from domain.errors import InvalidInput

MAX_NAME_LENGTH = 255
MAX_RETRIES = 100
MAX_RETRY_DELAY = timedelta(minutes=10)
DEFAULT_RETRY_DELAY = timedelta(seconds=1)
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


class WorkflowInvalid(InvalidInput):
    """The workflow file or its inputs cannot be used; the message names the file and line."""


class Backoff(StrEnum):
    """How the wait between two attempts of a task grows."""

    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class TaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


def validate_name(name: object, what: str) -> str:
    """A task or workflow name: letters, digits, '_', '-' and '.', up to 255 characters."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a {what} name must be a non-empty string, got {_shown(name)}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"invalid {what} name '{name[:40]}...': longer than "
                           f"{MAX_NAME_LENGTH} characters")
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid {what} name '{name}': use letters, digits, '_', '-' and "
                           "'.', starting with a letter, digit or '_'")
    return name


def duration_value(value: object, what: str) -> timedelta:
    """A duration written as text (`90s`, `5m`, `1h30m`) or as a number of seconds."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"invalid {what} {value}: expected a duration such as '5m'")
    try:
        return coerce_duration(value, what=what, seconds_allowed=True)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def _shown(value: object) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    if isinstance(value, int | float):
        return str(value)
    return f"a {type(value).__name__}"


class WorkflowConfig(BaseModel):
    """A workflow's `config({...})`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: timedelta | None = None
    """The whole run's limit; what still runs then is stopped."""
    require_lock: bool | None = None
    """None: the configuration's `auto_lock` decides."""
    create_snapshot: bool | None = None
    """None: the configuration's `auto_snapshot` decides."""
    rollback_on_failure: bool = False
    max_parallel_tasks: int | None = Field(default=None, ge=1)
    """None: the caller's default (the configuration's `max_concurrent_executions`)."""

    def with_defaults(self, *, auto_lock: bool, auto_snapshot: bool) -> WorkflowConfig:
        """What the run does: the workflow's own settings, the configuration's where it has none."""
        return self.model_copy(update={
            "require_lock": auto_lock if self.require_lock is None else self.require_lock,
            "create_snapshot": auto_snapshot if self.create_snapshot is None
            else self.create_snapshot})


_FLAGS = ("require_lock", "create_snapshot", "rollback_on_failure")
CONFIG_KEYS = ("timeout", *_FLAGS, "max_parallel_tasks")


def parse_workflow_config(raw: Mapping[str, Any]) -> WorkflowConfig:
    """Check a config table key by key; the first problem raises InvalidInput naming the key."""
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in CONFIG_KEYS:
            raise InvalidInput(f"unknown config key {_shown(key)} (known: {', '.join(CONFIG_KEYS)})")
        if key == "timeout":
            fields[key] = duration_value(value, "config timeout")
        elif key in _FLAGS:
            if not isinstance(value, bool):
                raise InvalidInput(f"config key '{key}' must be true or false, got {_shown(value)}")
            fields[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) \
                    or value < 1:
                raise InvalidInput(f"config key '{key}' must be a whole number of at least 1, "
                                   f"got {_shown(value)}")
            fields[key] = int(value)
    return WorkflowConfig(**fields)


class TaskSpec(BaseModel):
    """One task of a workflow, as declared (what runs it is not part of the spec)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    depends_on: tuple[str, ...] = ()
    timeout: timedelta | None = None
    """Limit of one attempt."""
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    """Attempts after the first one."""
    backoff: Backoff = Backoff.FIXED
    retry_delay: timedelta = DEFAULT_RETRY_DELAY
    defined_at: str | None = None
    """`file:line` of the declaration, for messages."""

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def delay_before_retry(self, failed_attempts: int) -> timedelta:
        """How long to wait after `failed_attempts` failures before the next attempt."""
        steps = max(failed_attempts, 1)
        if self.backoff is Backoff.LINEAR:
            delay = self.retry_delay * steps
        elif self.backoff is Backoff.EXPONENTIAL:
            delay = self.retry_delay * 2 ** min(steps - 1, 32)
        else:
            delay = self.retry_delay
        return min(delay, MAX_RETRY_DELAY)


def _at(where: str | None) -> str:
    return f"{where}: " if where else ""


class WorkflowSpec(BaseModel):
    """A workflow: its tasks, their order constraints and its configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    version: str = ""
    config: WorkflowConfig = WorkflowConfig()
    tasks: tuple[TaskSpec, ...]
    defined_at: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowSpec:
        if not self.tasks:
            raise WorkflowInvalid(f"{_at(self.defined_at)}workflow '{self.name}' has no tasks")
        seen: set[str] = set()
        for task in self.tasks:
            if task.name in seen:
                raise WorkflowInvalid(f"{_at(task.defined_at)}workflow '{self.name}' has two "
                                      f"tasks named '{task.name}'")
            seen.add(task.name)
        for task in self.tasks:
            for dependency in task.depends_on:
                if dependency not in seen:
                    raise WorkflowInvalid(
                        f"{_at(task.defined_at)}task '{task.name}' depends on unknown task "
                        f"'{dependency}' (tasks of '{self.name}': {', '.join(sorted(seen))})")
                if dependency == task.name:
                    raise WorkflowInvalid(f"{_at(task.defined_at)}task '{task.name}' depends "
                                          "on itself")
        return self

    def task(self, name: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)


class PlannedTask(BaseModel):
    """A task in a dry-run plan."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    depends_on: list[str]
    level: int
    """0 for tasks without dependencies; tasks of one level may run side by side."""
    timeout: str | None
    retries: int
    backoff: Backoff


class WorkflowPlan(BaseModel):
    """What a run would do, in order, without doing it."""

    model_config = ConfigDict(frozen=True)

    workflow: str
    description: str
    version: str
    max_parallel_tasks: int
    timeout: str | None
    require_lock: bool
    create_snapshot: bool
    rollback_on_failure: bool
    levels: list[list[str]]
    tasks: list[PlannedTask]
    """Every task once, in the order a one-at-a-time run would take them."""


class LogLine(BaseModel):
    """A line a task logged (through `log.*`, `print` or its commands)."""

    model_config = ConfigDict(frozen=True)

    level: LogLevel
    message: str
    attempt: int = 1


class TaskResult(BaseModel):
    """What became of one task in one run."""

    name: str
    status: TaskStatus
    message: str = ""
    outputs: dict[str, Any] = Field(default_factory=dict)
    logs: list[LogLine] = Field(default_factory=list)
    attempts: int = 0
    duration: float = 0.0
    """Seconds from the first attempt's start to the end, waits between attempts included."""
    started_at: float | None = None
    finished_at: float | None = None
    """Seconds since the run started (None for a task that never started)."""
    error: str | None = None
    """The error's first line, for a failure that raised one."""
    location: str | None = None
    """`file:line` where a Lua error was raised."""


class RunResult(BaseModel):
    """What became of one run of a workflow."""

    workflow: str
    status: RunStatus
    message: str = ""
    duration: float = 0.0
    tasks: list[TaskResult] = Field(default_factory=list)
    logs: list[LogLine] = Field(default_factory=list)
    """Lines of the workflow's own code (its `on_complete`)."""

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def task(self, name: str) -> TaskResult:
        for result in self.tasks:
            if result.name == name:
                return result
        raise KeyError(name)

    def counts(self) -> dict[TaskStatus, int]:
        totals = dict.fromkeys(TaskStatus, 0)
        for result in self.tasks:
            totals[result.status] += 1
        return totals


def describe_run(result: RunResult, timeout: timedelta | None = None) -> str:
    """One line saying how a run ended: `failed: 2 succeeded, 1 failed, 1 skipped`."""
    parts = [f"{count} {status.value.replace('_', ' ')}"
             for status, count in result.counts().items() if count]
    head = result.status.value.replace("_", " ")
    if result.status is RunStatus.TIMED_OUT and timeout is not None:
        head += f" after {format_duration(timeout)}"
    return f"{head}: {', '.join(parts)}" if parts else head


class WorkflowHost(Protocol):
    """The stack a workflow runs against: every read and write of `state` and `stack` goes here.

    Called from the threads that run tasks, possibly several at once: implementations must be
    thread-safe. Methods raise domain errors (InvalidKey, ...) for what the caller got wrong.
    """

    def stack_name(self) -> str: ...

    def stack_status(self) -> str: ...

    def get_value(self, key: str) -> Any:
        """The value, or None when the key is not set."""

    def set_value(self, key: str, value: Any) -> None: ...

    def set_secret(self, key: str, value: Any) -> None:
        """Set a state value that is stored encrypted (read back in plain text by get_value)."""

    def delete_value(self, key: str) -> bool:
        """Whether the key was set."""

    def has_value(self, key: str) -> bool: ...

    def value_keys(self) -> list[str]:
        """The keys, sorted."""

    def increment_value(self, key: str, by: int | float) -> int | float:
        """Add `by` to a numeric value (a missing key counts as 0), atomically; the new value."""

    def get_output(self, key: str) -> Any:
        """The output, or None when it is not set."""

    def set_output(self, key: str, value: Any) -> None: ...
