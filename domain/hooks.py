"""Hooks: what runs when events are recorded. One event stream per hook name.

A hook has a filter (event type globs, optional stack globs) and one action: a command, a
webhook or a Lua function. Adding, removing, enabling and disabling a hook are events, so the
set of hooks is audited and rebuilt from the log like everything else. What happens to each
delivery is not an event: it is the state of the process that delivers (see
`infrastructure/hooks`), kept beside the log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from fnmatch import translate
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import BaseModel, ConfigDict

from domain.errors import Conflict, InvalidInput, NotFound
from domain.events import DomainEvent, stamp
from domain.invocation import Invocation

HOOK_NAMESPACE = UUID("3b0f6c52-8a5e-5c1d-9f4e-2d7a6b1c0e93")
MAX_HOOK_NAME = 128
MAX_GLOB = 255
MAX_GLOBS = 64
MAX_URL = 2048
MAX_ARGUMENTS = 256
MAX_ARGUMENT = 4096
DEFAULT_TIMEOUT = timedelta(seconds=10)
MAX_TIMEOUT = timedelta(hours=1)
DEFAULT_RETRIES = 5
MAX_RETRIES = 100
RETRY_BASE = timedelta(seconds=1)
"""The wait after a first failed attempt; each further failure doubles it."""
RETRY_CAP = timedelta(minutes=5)
"""The longest wait between two attempts."""

_HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_EVENT_GLOB = re.compile(r"[A-Za-z0-9._*?\[\]!-]+")
_STACK_GLOB = re.compile(r"[A-Za-z0-9._*?\[\]!-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUA_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def hook_id(name: str) -> UUID:
    """The aggregate id of the hook with this name: one name, one stream."""
    return uuid5(HOOK_NAMESPACE, f"hook:{name}")


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


# ---- rules --------------------------------------------------------------------------------

def validate_hook_name(name: str) -> str:
    """A hook's name: like a stack's (letters, digits, '.', '_', '-'), at most 128 characters."""
    if not name:
        raise InvalidInput("invalid hook name '': a name must not be empty")
    if len(name) > MAX_HOOK_NAME:
        raise InvalidInput(f"invalid hook name '{_shown(name)}': longer than {MAX_HOOK_NAME} "
                           "characters")
    if not _HOOK_NAME.fullmatch(name):
        raise InvalidInput(f"invalid hook name '{_shown(name)}': use letters, digits, '-', '_' "
                           "and '.', starting with a letter or digit")
    return name


def validate_event_globs(globs: Sequence[str]) -> list[str]:
    """Event type globs (`lock.*`, `stack.execution.failed`): at least one, each well formed."""
    if not globs:
        raise InvalidInput("a hook needs at least one event type to listen to (--on GLOB)",
                           field="on")
    return _globs(globs, _EVENT_GLOB, "event type glob", "on")


def validate_stack_globs(globs: Sequence[str]) -> list[str]:
    """Stack name globs (`prod-*`); none means every stack (and events of no stack)."""
    return _globs(globs, _STACK_GLOB, "stack glob", "stacks")


def _globs(globs: Sequence[str], rule: re.Pattern[str], what: str, field: str) -> list[str]:
    if len(globs) > MAX_GLOBS:
        raise InvalidInput(f"at most {MAX_GLOBS} {what}s", field=field)
    result: list[str] = []
    for glob in globs:
        if not glob or len(glob) > MAX_GLOB or not rule.fullmatch(glob):
            raise InvalidInput(f"invalid {what} '{_shown(glob)}': use letters, digits, '.', "
                               "'_', '-' and the wildcards * ? [...]", field=field)
        if glob.count("[") != glob.count("]"):
            raise InvalidInput(f"invalid {what} '{_shown(glob)}': unbalanced brackets",
                               field=field)
        if glob not in result:
            result.append(glob)
    return result


def split_lua_target(text: str) -> tuple[str, str]:
    """`FILE:FUNCTION` as (file, function); the file may itself contain colons."""
    file, colon, function = text.rpartition(":")
    if not colon or not file:
        raise InvalidInput(f"invalid Lua target '{_shown(text)}': use FILE:FUNCTION, such as "
                           "hooks.lua:on_event", field="lua")
    return file, function


def validate_timeout(timeout: timedelta) -> timedelta:
    if timeout <= timedelta(0) or timeout > MAX_TIMEOUT:
        raise InvalidInput("the timeout must be more than zero and at most 1h", field="timeout")
    return timeout


def validate_retries(retries: int) -> int:
    if isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        raise InvalidInput(f"retries must be a whole number from 0 to {MAX_RETRIES}",
                           field="retries")
    return retries


def retry_delay(failed_attempts: int, base: timedelta = RETRY_BASE,
                cap: timedelta = RETRY_CAP) -> timedelta:
    """How long to wait after `failed_attempts` failures before trying again: 1s, 2s, 4s...
    up to 5m."""
    steps = max(failed_attempts, 1)
    return min(base * (1 << min(steps - 1, 32)), cap)


def glob_matcher(globs: Sequence[str]) -> re.Pattern[str] | None:
    """One compiled pattern for a list of globs (case-sensitive, `*` crosses dots)."""
    return _compiled(tuple(globs)) if globs else None


@lru_cache(maxsize=1024)
def _compiled(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{translate(glob)})" for glob in globs))


def unmatched_globs(globs: Sequence[str], known_types: Sequence[str]) -> list[str]:
    """The globs that match none of the known event types."""
    return [glob for glob in globs
            if not any(_compiled((glob,)).match(kind) for kind in known_types)]


# ---- what a hook is -------------------------------------------------------------------------

class ActionKind(StrEnum):
    COMMAND = "command"
    WEBHOOK = "webhook"
    LUA = "lua"


class HookAction(BaseModel):
    """What a hook does with an event: run a command, POST to a URL, or call a Lua function."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActionKind
    argv: list[str] = []
    """The command and its arguments (command); with `shell`, one string for /bin/sh."""
    shell: bool = False
    url: str = ""
    secret_env: str = ""
    """The name of the environment variable holding the webhook's signing secret (never the
    secret itself)."""
    file: str = ""
    """The `.sloth` or `.lua` file (lua), as an absolute path."""
    function: str = ""

    @classmethod
    def command(cls, argv: Sequence[str], *, shell: bool = False) -> HookAction:
        words = list(argv)
        if not words or not words[0].strip():
            raise InvalidInput("the command is empty", field="run")
        if shell and len(words) != 1:
            raise InvalidInput("a shell command is one string", field="run")
        if len(words) > MAX_ARGUMENTS or any(len(word) > MAX_ARGUMENT for word in words):
            raise InvalidInput(f"the command is too long (at most {MAX_ARGUMENTS} arguments of "
                               f"{MAX_ARGUMENT} characters)", field="run")
        if any("\x00" in word for word in words):
            raise InvalidInput("the command must not contain NUL characters", field="run")
        return cls(kind=ActionKind.COMMAND, argv=words, shell=shell)

    @classmethod
    def command_line(cls, text: str, *, shell: bool = False) -> HookAction:
        """A command as one line: split like a shell splits words, or given to /bin/sh."""
        if shell:
            return cls.command([text], shell=True)
        import shlex

        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise InvalidInput(f"cannot split the command into words: {exc}",
                               field="run") from None
        return cls.command(words)

    @classmethod
    def webhook(cls, url: str, secret_env: str = "") -> HookAction:
        if len(url) > MAX_URL or any(ord(c) <= 32 or ord(c) == 127 for c in url):
            raise InvalidInput(f"invalid URL '{_shown(url)}': at most {MAX_URL} characters, "
                               "no spaces or control characters", field="url")
        try:
            parts = urlsplit(url)
            if parts.port == 0:  # reading the port checks its range too
                raise ValueError("port 0")
        except ValueError as exc:
            raise InvalidInput(f"invalid URL '{_shown(url)}': {exc}", field="url") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"invalid URL '{_shown(url)}': a webhook URL starts with "
                               "http:// or https:// and names a host", field="url")
        if parts.password is not None or parts.username is not None:
            raise InvalidInput("the URL must not carry credentials: they would be recorded in "
                               "the event log; sign with --secret-env instead", field="url")
        if secret_env and not _ENV_NAME.fullmatch(secret_env):
            raise InvalidInput(f"invalid environment variable name '{_shown(secret_env)}'",
                               field="secret_env")
        return cls(kind=ActionKind.WEBHOOK, url=url, secret_env=secret_env)

    @classmethod
    def lua(cls, file: str, function: str) -> HookAction:
        if not file or "\x00" in file:
            raise InvalidInput("the Lua file is missing: use --lua FILE:FUNCTION", field="lua")
        if not _LUA_FUNCTION.fullmatch(function):
            raise InvalidInput(f"invalid Lua function name '{_shown(function)}': use a name "
                               "such as on_event or hooks.on_event", field="lua")
        return cls(kind=ActionKind.LUA, file=file, function=function)

    def describe(self) -> str:
        """One line: the command, the URL, or FILE:FUNCTION."""
        if self.kind is ActionKind.COMMAND:
            import shlex

            return self.argv[0] if self.shell else shlex.join(self.argv)
        if self.kind is ActionKind.WEBHOOK:
            return f"POST {self.url}"
        return f"{self.file}:{self.function}"


class HookSpec(BaseModel):
    """A hook's definition: which events it wants and what it does with each."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: list[str]
    stacks: list[str] = []
    action: HookAction
    timeout_ms: int = int(DEFAULT_TIMEOUT.total_seconds() * 1000)
    retries: int = DEFAULT_RETRIES

    @classmethod
    def build(cls, *, on: Sequence[str], stacks: Sequence[str] = (), action: HookAction,
              timeout: timedelta = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES) -> HookSpec:
        """A definition checked against every rule."""
        return cls(on=validate_event_globs(on), stacks=validate_stack_globs(stacks),
                   action=action,
                   timeout_ms=int(validate_timeout(timeout).total_seconds() * 1000),
                   retries=validate_retries(retries))

    @property
    def timeout(self) -> timedelta:
        return timedelta(milliseconds=self.timeout_ms)

    def matches(self, event_type: str, stack: str) -> bool:
        """Whether this hook wants an event of this type on this stack ('' for none)."""
        types = glob_matcher(self.on)
        if types is None or not types.fullmatch(event_type):
            return False
        stacks = glob_matcher(self.stacks)
        return stacks is None or (bool(stack) and stacks.fullmatch(stack) is not None)


class HookExists(Conflict):
    def __init__(self, name: str, where: str = "") -> None:
        super().__init__(f"hook '{name}' already exists{where}", hook=name)


class HookNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"hook '{name}' not found", hook=name)


# ---- the events of a hook's stream ------------------------------------------------------------

class HookEvent(DomainEvent):
    """An event in one hook's stream; each names the hook, so it reads on its own."""

    name: str


class HookAdded(HookEvent, CanInitAggregate[UUID]):
    """The hook was added (or added again after it had been removed)."""

    TOPIC: ClassVar[str] = "hook.added"
    originator_topic: str
    spec: HookSpec
    from_start: bool = False
    """Deliver the whole history to it, not only what comes after this event."""

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        return CanMutateAggregate.mutate(self, aggregate)

    def apply(self, aggregate: Any) -> None:
        hook: Hook = aggregate
        hook.name = self.name
        hook.spec = self.spec
        hook.from_start = self.from_start
        hook.enabled = True
        hook.removed = False
        hook.incarnation = getattr(hook, "incarnation", 0) + 1


class HookRemoved(HookEvent):
    TOPIC: ClassVar[str] = "hook.removed"

    def apply(self, aggregate: Any) -> None:
        aggregate.removed = True


class HookEnabled(HookEvent):
    TOPIC: ClassVar[str] = "hook.enabled"

    def apply(self, aggregate: Any) -> None:
        aggregate.enabled = True


class HookDisabled(HookEvent):
    """Deliveries to the hook pause; they resume, from where they stopped, when enabled."""

    TOPIC: ClassVar[str] = "hook.disabled"

    def apply(self, aggregate: Any) -> None:
        aggregate.enabled = False


class Hook(BaseAggregate[UUID]):
    """A named hook and everything that happened to its definition."""

    TOPIC: ClassVar[str] = "hook"
    class_version: ClassVar[int] = 1

    if TYPE_CHECKING:  # set by the events' apply(); not dataclass fields
        name: str
        spec: HookSpec
        from_start: bool
        enabled: bool
        removed: bool
        incarnation: int

    Event: TypeAlias = HookEvent
    Added: TypeAlias = HookAdded
    Removed: TypeAlias = HookRemoved
    Enabled: TypeAlias = HookEnabled
    Disabled: TypeAlias = HookDisabled

    @classmethod
    def add(cls, name: str, spec: HookSpec, invocation: Invocation, *,
            from_start: bool = False) -> Hook:
        """A new hook with this name."""
        validate_hook_name(name)
        return cls._create(cls.Added, id=hook_id(name), name=name, spec=spec,
                           from_start=from_start, **stamp(invocation))

    def add_again(self, spec: HookSpec, invocation: Invocation, *,
                  from_start: bool = False) -> None:
        """Add a removed hook's name again: a new definition on the same history."""
        if not self.removed:
            raise HookExists(self.name)
        self.trigger_event(self.Added, originator_topic=self.TOPIC, spec=spec,
                           from_start=from_start, **self._stamp(invocation))

    def remove(self, invocation: Invocation) -> None:
        self._ensure_present()
        self.trigger_event(self.Removed, **self._stamp(invocation))

    def enable(self, invocation: Invocation) -> bool:
        """Resume deliveries; False when it was enabled already."""
        self._ensure_present()
        if self.enabled:
            return False
        self.trigger_event(self.Enabled, **self._stamp(invocation))
        return True

    def disable(self, invocation: Invocation) -> bool:
        """Pause deliveries; False when it was disabled already."""
        self._ensure_present()
        if not self.enabled:
            return False
        self.trigger_event(self.Disabled, **self._stamp(invocation))
        return True

    def _ensure_present(self) -> None:
        if self.removed:
            raise HookNotFound(self.name)

    def _stamp(self, invocation: Invocation) -> dict[str, Any]:
        """Event fields from the invocation (time never going backwards), and the name."""
        fields = stamp(invocation)
        fields["timestamp"] = max(fields["timestamp"], self.modified_on)
        fields["name"] = self.name
        return fields


EVENT_TYPES: tuple[type[HookEvent], ...] = (HookAdded, HookRemoved, HookEnabled, HookDisabled)
