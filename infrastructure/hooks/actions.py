"""What a hook does with one event: run a command, POST to a URL, or call a Lua function.

Each action makes one attempt and reports it (`AttemptResult`); retrying, recording and
ordering are the caller's. The event reaches every kind as the same JSON document (the
event as `events export` writes it, plus `hook` and `delivery_id`), byte for byte the same
on every attempt, so a receiver can compare and de-duplicate.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from domain.durations import format_duration
from domain.errors import InvalidInput
from domain.hooks import ActionKind, HookAction, HookSpec

if TYPE_CHECKING:  # urllib.request costs milliseconds to import: only webhooks need it
    import urllib.error
    import urllib.request

SIGNATURE_HEADER = "X-Sloth-Signature"
MAX_ERROR = 300
"""Characters of an error kept with a delivery (its first line)."""
MAX_RESPONSE = 4096
"""Bytes of a webhook's response read for the error message."""

StopCheck = Callable[[], str | None]
Log = Callable[[str, str], None]
"""(level, message) from a Lua hook's `log.*` calls."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one hook."""

    hook: str
    delivery_id: str
    position: int
    event_type: str
    stack: str
    body: bytes
    """The JSON document sent (stdin, request body); the same on every attempt."""
    document: dict[str, Any]
    """The same document as data (what a Lua function receives as a table)."""
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class AttemptResult:
    ok: bool
    duration_ms: int
    exit_code: int | None = None
    http_status: int | None = None
    error: str = ""
    """The first line of what went wrong ('' when it went well)."""


class Action(Protocol):
    def deliver(self, delivery: Delivery, should_stop: StopCheck) -> AttemptResult:
        """Make one attempt."""

    def close(self) -> None:
        """Free what the action holds (a Lua interpreter)."""


def first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:MAX_ERROR]
    return ""


def last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:MAX_ERROR]
    return ""


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def build_action(spec: HookSpec, log: Log | None = None) -> Action:
    """The action of a hook definition, ready to deliver."""
    action = spec.action
    timeout = spec.timeout.total_seconds()
    if action.kind is ActionKind.COMMAND:
        return CommandAction(action, timeout)
    if action.kind is ActionKind.WEBHOOK:
        return WebhookAction(action, timeout)
    return LuaAction(action, timeout, log or (lambda level, message: None))


# ---- command -------------------------------------------------------------------------------

class CommandAction:
    """Runs the command with the event as JSON on stdin; exit status 0 is success.

    Its stdout is discarded; the last line of its stderr is what a failure records.
    """

    def __init__(self, action: HookAction, timeout: float) -> None:
        self.command: str | list[str] = action.argv[0] if action.shell else list(action.argv)
        self.timeout = timeout
        # Encoded once: encoding the environment again costs more than spawning `true`.
        self.environment = {os.fsencode(name): os.fsencode(value)
                            for name, value in os.environ.items()}

    def deliver(self, delivery: Delivery, should_stop: StopCheck) -> AttemptResult:
        from infrastructure.lua.process import CommandStopped, run_command

        variables = {"SLOTH_EVENT_ID": str(delivery.position),
                     "SLOTH_EVENT_TYPE": delivery.event_type, "SLOTH_STACK": delivery.stack,
                     "SLOTH_DELIVERY_ID": delivery.delivery_id, "SLOTH_HOOK": delivery.hook,
                     "SLOTH_DELIVERY_ATTEMPT": str(delivery.attempt)}
        environment = {**self.environment, **{os.fsencode(name): os.fsencode(value)
                                               for name, value in variables.items()}}
        started = time.monotonic()
        try:
            result = run_command(self.command, should_stop=should_stop, timeout=self.timeout,
                                 whole_env=environment, input=delivery.body,
                                 keep_stdout=False)
        except CommandStopped as stop:
            return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                 error=f"stopped: {stop}")
        duration = int(result.duration * 1000)
        if result.timed_out:
            return AttemptResult(ok=False, duration_ms=duration, exit_code=result.exit_code,
                                 error=f"timed out after {_seconds(self.timeout)}")
        if result.success:
            return AttemptResult(ok=True, duration_ms=duration, exit_code=0)
        said = last_line(result.stderr)
        return AttemptResult(ok=False, duration_ms=duration, exit_code=result.exit_code,
                             error=f"exit {result.exit_code}" + (f": {said}" if said else ""))

    def close(self) -> None:
        """Nothing held."""


def _seconds(seconds: float) -> str:
    from datetime import timedelta

    return format_duration(timedelta(seconds=seconds))


# ---- webhook -------------------------------------------------------------------------------

def signature(secret: bytes, body: bytes) -> str:
    """The `X-Sloth-Signature` header's value: `sha256=` and the HMAC of the body, in hex."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _opener() -> urllib.request.OpenerDirector:
    """An opener that does not follow redirects: a webhook's answer is its status, and a
    redirect (which would turn the POST into a GET) is reported as it is."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirects())


class WebhookAction:
    """POSTs the event to the URL, signed when a secret is configured; 2xx is success."""

    def __init__(self, action: HookAction, timeout: float) -> None:
        self.url = action.url
        self.secret_env = action.secret_env
        self.timeout = timeout
        self.opener = _opener()

    def deliver(self, delivery: Delivery, should_stop: StopCheck) -> AttemptResult:
        import urllib.error
        import urllib.request
        from importlib.metadata import PackageNotFoundError, version

        started = time.monotonic()
        try:
            release = version("sloth-runner")
        except PackageNotFoundError:
            release = "dev"
        headers = {"Content-Type": "application/json", "User-Agent": f"sloth-runner/{release}",
                   "X-Sloth-Event": delivery.event_type, "X-Sloth-Delivery": delivery.delivery_id,
                   "X-Sloth-Hook": delivery.hook, "X-Sloth-Attempt": str(delivery.attempt)}
        if self.secret_env:
            secret = os.environ.get(self.secret_env)
            if not secret:
                return AttemptResult(ok=False, duration_ms=0,
                                     error=f"the signing secret's variable {self.secret_env} is "
                                           "not set")
            headers[SIGNATURE_HEADER] = signature(secret.encode(), delivery.body)
        request = urllib.request.Request(self.url, data=delivery.body, headers=headers,
                                         method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                response.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = first_line(_read(exc)) or exc.reason
            return AttemptResult(ok=False, duration_ms=_elapsed_ms(started), http_status=status,
                                 error=f"HTTP {status}" + (f": {detail}" if detail else ""))
        except TimeoutError:
            return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                 error=f"timed out after {_seconds(self.timeout)}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                     error=f"timed out after {_seconds(self.timeout)}")
            return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                 error=first_line(f"cannot reach {self.url}: {reason}"))
        if 200 <= status < 300:
            return AttemptResult(ok=True, duration_ms=_elapsed_ms(started), http_status=status)
        return AttemptResult(ok=False, duration_ms=_elapsed_ms(started), http_status=status,
                             error=f"HTTP {status}")

    def close(self) -> None:
        """Nothing held."""


def _read(error: urllib.error.HTTPError) -> str:
    try:
        return error.read(MAX_RESPONSE).decode("utf-8", "replace")
    except OSError:
        return ""


# ---- Lua -----------------------------------------------------------------------------------

class LuaAction:
    """Calls a function of a `.sloth`/`.lua` file with the event as a table, in the workflow
    sandbox (no files, no Python; `exec`, `log` and `data` work, `state` and `stack` do not).

    The file is loaded once into an interpreter kept for the next events (in-process
    deliveries cost microseconds), and again when it changes on disk. The function fails by
    raising an error or returning `false`/`nil` (and a message); anything else succeeds.
    """

    RECHECK_FILE = 1.0
    """Seconds between two looks at whether the file changed."""

    def __init__(self, action: HookAction, timeout: float, log: Log) -> None:
        self.path = Path(action.file)
        self.function = action.function
        self.timeout = timeout
        self.log = log
        self._deadline = 0.0
        self._should_stop: StopCheck = lambda: None
        self._session: _LuaSession | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def deliver(self, delivery: Delivery, should_stop: StopCheck) -> AttemptResult:
        from infrastructure.lua.convert import to_lua
        from infrastructure.lua.sandbox import LuaFailure

        started = time.monotonic()
        with self._lock:
            self._should_stop = should_stop
            self._deadline = started + self.timeout
            try:
                session = self._loaded(started)
                function = session.function(self.function)
                session.sandbox.rearm()
                returned = session.sandbox.call(function, to_lua(session.sandbox.lua,
                                                                 delivery.document))
            except LuaFailure as failure:
                message = failure.first_line
                if message.endswith("timed out"):
                    message = f"timed out after {_seconds(self.timeout)}"
                return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                     error=message[:MAX_ERROR])
            except InvalidInput as exc:
                return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                     error=str(exc)[:MAX_ERROR])
        if returned and (returned[0] is None or returned[0] is False):
            reason = returned[1] if len(returned) > 1 and isinstance(returned[1], str) else ""
            return AttemptResult(ok=False, duration_ms=_elapsed_ms(started),
                                 error=first_line(reason) or "the function returned false")
        return AttemptResult(ok=True, duration_ms=_elapsed_ms(started))

    def _check(self) -> str | None:
        why = self._should_stop()
        if why is not None:
            return why
        if time.monotonic() >= self._deadline:
            return "timed out"
        return None

    def _loaded(self, now: float) -> _LuaSession:
        if self._session is None or now - self._checked >= self.RECHECK_FILE:
            self._checked = now
            stamp = _file_stamp(self.path)
            if self._session is None or stamp != self._stamp:
                self._session = _LuaSession(self.path, self._check, self.log)
                self._stamp = stamp
        return self._session

    def close(self) -> None:
        self._session = None


def _file_stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    return info.st_mtime_ns, info.st_size


class _LuaSession:
    """A sandboxed interpreter with the workflow modules and DSL, the file loaded into it."""

    def __init__(self, path: Path, check: StopCheck, log: Log) -> None:
        from infrastructure.lua.dsl import install_dsl
        from infrastructure.lua.modules import Modules
        from infrastructure.lua.sandbox import LuaFailure, Sandbox

        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InvalidInput(f"cannot read {path}: {reason}") from None
        self.sandbox = Sandbox(check)
        modules = Modules(self.sandbox, values={}, should_stop=check)
        modules.log_sink = lambda level, message: log(level.value, message)
        install_dsl(self.sandbox, str(path))
        try:
            self.sandbox.run(source, str(path))
        except LuaFailure as failure:
            raise InvalidInput(f"{path}: {failure.first_line}") from None
        modules.running = True
        self.path = path

    def function(self, name: str) -> Any:
        from lupa.lua54 import lua_type

        value: Any = self.sandbox.globals
        for part in name.split("."):
            value = value[part] if lua_type(value) == "table" else None
            if value is None:
                break
        if lua_type(value) != "function":
            raise InvalidInput(f"{self.path} defines no function '{name}'")
        return value


def check_action(action: HookAction) -> None:
    """Check what can be checked before a hook is added: a Lua file loads and defines the
    function (raises InvalidInput otherwise)."""
    if action.kind is not ActionKind.LUA:
        return
    path = Path(action.file)
    if not path.is_file():
        raise InvalidInput(f"Lua file {path} not found", field="lua")
    deadline = time.monotonic() + 30
    session = _LuaSession(path, lambda: "loading took longer than 30s"
                          if time.monotonic() > deadline else None, lambda level, text: None)
    session.function(action.function)
