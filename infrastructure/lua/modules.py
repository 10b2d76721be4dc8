"""The modules a workflow sees without `require`: state, stack, exec, log, data and values.

`state` and `stack` read and write the run's stack through a `WorkflowHost`; `exec` runs
commands. All three act on the world, so they work only while a task (or `on_complete`)
runs, not while the file is being loaded: loading a file has no effects, which is what lets
every task load it again in its own interpreter.

Each Python function returns `(true, results...)` or `(false, message)`; a small Lua wrapper
turns the latter into a Lua error at the caller's line, so messages read
`deploy.sloth:12: state.set: invalid key ...`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import orjson
from lupa.lua54 import lua_type

from domain.durations import format_duration
from domain.errors import DomainError, InvalidInput
from domain.workflow import LogLevel, WorkflowHost, duration_value
from infrastructure.lua.convert import NotData, to_lua, to_python
from infrastructure.lua.process import CommandResult, CommandStopped, run_command
from infrastructure.lua.sandbox import Sandbox

_BIND = r"""
local raw, emit = ...
local pack, unpack, error, select, tostring, concat = table.pack, table.unpack, error, select,
  tostring, table.concat

local function bind(fn)
  return function(...)
    local result = pack(fn(...))
    if result[1] then return unpack(result, 2, result.n) end
    error(result[2], 2)
  end
end

local function module(names)
  local functions = {}
  for _, name in ipairs(names) do functions[name] = bind(raw[names.prefix .. name]) end
  return functions
end

state = module({ prefix = "state_", "set", "set_secret", "get", "delete", "exists", "keys",
                 "increment" })
stack = module({ prefix = "stack_", "name", "status", "set_output", "get_output" })
exec = module({ prefix = "exec_", "run" })
data = module({ prefix = "data_", "to_json", "from_json" })

local function joined(...)
  local parts = {}
  for index = 1, select("#", ...) do parts[index] = tostring((select(index, ...))) end
  return concat(parts, " ")
end
log = {}
for _, level in ipairs({ "debug", "info", "warn", "error" }) do
  log[level] = function(...) emit(level, joined(...)) end
end
print = function(...) emit("info", joined(...)) end
"""

_EXEC_OPTIONS = ("timeout", "env", "workdir")
MAX_OUTPUT_IN_LOG = 200
"""Characters of a command line shown in a log line."""


class NotAvailable(Exception):
    """A module function that acts was called while the file was loading."""


class Modules:
    """The modules of one sandbox, bound to a host and to the task that runs."""

    def __init__(self, sandbox: Sandbox, *, values: Mapping[str, Any],
                 should_stop: Callable[[], str | None], host: WorkflowHost | None = None) -> None:
        self._sandbox = sandbox
        self._lua = sandbox.lua
        self._host = host
        self._should_stop = should_stop
        self.running = False
        """False while the file loads: then state, stack and exec refuse to act."""
        self.log_sink: Callable[[LogLevel, str], None] = lambda level, message: None
        functions: dict[str, Callable[..., Any]] = {
            "state.set": self._state_set, "state.set_secret": self._state_set_secret,
            "state.get": self._state_get,
            "state.delete": self._state_delete, "state.exists": self._state_exists,
            "state.keys": self._state_keys, "state.increment": self._state_increment,
            "stack.name": self._stack_name, "stack.status": self._stack_status,
            "stack.set_output": self._set_output, "stack.get_output": self._get_output,
            "exec.run": self._exec_run,
            "data.to_json": self._to_json, "data.from_json": self._from_json}
        raw = {name.replace(".", "_"): self._guarded(name, function)
               for name, function in functions.items()}
        self._lua.execute(_BIND, self._lua.table_from(raw), self._emit)
        sandbox.globals["values"] = to_lua(self._lua, dict(values))

    # -- plumbing ------------------------------------------------------------------------------

    def _emit(self, level: str, message: str) -> None:
        self.log_sink(LogLevel(level), message)

    def _guarded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        acts = name.split(".", maxsplit=1)[0] in ("state", "stack", "exec")

        def guarded(*args: Any) -> Any:
            try:
                if acts and not self.running:
                    raise NotAvailable("only available while a task runs, not while the "
                                       "file loads")
                result = function(*args)
            except CommandStopped as stop:
                return False, str(stop)
            except (DomainError, NotData, NotAvailable, ValueError, TypeError) as exc:
                return False, f"{name}: {exc}"
            except Exception as exc:
                return False, f"{name}: {type(exc).__name__}: {exc}"
            if isinstance(result, tuple):
                return (True, *result)
            return True, result

        return guarded

    @property
    def host(self) -> WorkflowHost:
        if self._host is None:
            raise NotAvailable("no stack is attached to this run")
        return self._host

    def _out(self, value: Any) -> Any:
        return to_lua(self._lua, value)

    # -- state ---------------------------------------------------------------------------------

    def _state_set(self, key: Any, value: Any = None) -> None:
        if value is None:
            raise InvalidInput("needs a value (use state.delete to remove a key)")
        self.host.set_value(_key(key), to_python(value))

    def _state_set_secret(self, key: Any, value: Any = None) -> None:
        if value is None:
            raise InvalidInput("needs a value (use state.delete to remove a key)")
        self.host.set_secret(_key(key), to_python(value))

    def _state_get(self, key: Any, default: Any = None) -> Any:
        value = self.host.get_value(_key(key))
        return default if value is None else self._out(value)

    def _state_delete(self, key: Any) -> bool:
        return self.host.delete_value(_key(key))

    def _state_exists(self, key: Any) -> bool:
        return self.host.has_value(_key(key))

    def _state_keys(self, prefix: Any = None) -> Any:
        if prefix is not None and not isinstance(prefix, str):
            raise InvalidInput("the prefix must be a string")
        keys = [key for key in self.host.value_keys() if not prefix or key.startswith(prefix)]
        return self._lua.table_from(keys)

    def _state_increment(self, key: Any, by: Any = 1) -> int | float:
        if isinstance(by, bool) or not isinstance(by, int | float):
            raise InvalidInput(f"increments by a number, got {_kind(by)}")
        return self.host.increment_value(_key(key), by)

    # -- stack ---------------------------------------------------------------------------------

    def _stack_name(self) -> str:
        return self.host.stack_name()

    def _stack_status(self) -> str:
        return self.host.stack_status()

    def _set_output(self, key: Any, value: Any = None) -> None:
        if value is None:
            raise InvalidInput("needs a value")
        self.host.set_output(_key(key), to_python(value))

    def _get_output(self, key: Any, default: Any = None) -> Any:
        value = self.host.get_output(_key(key))
        return default if value is None else self._out(value)

    # -- exec ----------------------------------------------------------------------------------

    def _exec_run(self, command: Any, options: Any = None) -> Any:
        result = self.run(command, options)
        return self._out({"success": result.success, "stdout": result.stdout,
                          "stderr": result.stderr, "exit_code": result.exit_code,
                          "duration": result.duration, "timed_out": result.timed_out})

    def run(self, command: Any, options: Any = None) -> CommandResult:
        """Run a command the way `exec.run` does (also used for string task commands)."""
        line = _command_line(command)
        settings = to_python(options) if options is not None else {}
        if not isinstance(settings, dict):
            raise InvalidInput("options must be a table such as {timeout = '30s', workdir = '/tmp'}")
        unknown = sorted(set(settings) - set(_EXEC_OPTIONS))
        if unknown:
            raise InvalidInput(f"unknown option '{unknown[0]}' (options: {', '.join(_EXEC_OPTIONS)})")
        timeout = None
        if settings.get("timeout") is not None:
            timeout = duration_value(settings["timeout"], "exec.run timeout").total_seconds()
        env = settings.get("env")
        if env is not None and (not isinstance(env, dict) or not all(
                isinstance(value, str | int | float) and not isinstance(value, bool)
                for value in env.values())):
            raise InvalidInput("env must be a table of NAME = 'value'")
        workdir = settings.get("workdir")
        if workdir is not None and not isinstance(workdir, str):
            raise InvalidInput("workdir must be a path")
        result = run_command(line, should_stop=self._should_stop, timeout=timeout,
                             env={name: str(value) for name, value in env.items()} if env else None,
                             workdir=workdir)
        shown = line if isinstance(line, str) else shlex.join(line)
        if len(shown) > MAX_OUTPUT_IN_LOG:
            shown = shown[:MAX_OUTPUT_IN_LOG - 3] + "..."
        outcome = (f"timed out after {format_duration(_seconds(timeout))}" if result.timed_out
                   else f"exit {result.exit_code}")
        self.log_sink(LogLevel.DEBUG, f"exec: {shown} -> {outcome} in "
                                      f"{format_duration(_seconds(result.duration))}")
        return result

    # -- data ----------------------------------------------------------------------------------

    def _to_json(self, value: Any, pretty: Any = None) -> str:
        option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if pretty else 0)
        return orjson.dumps(to_python(value), option=option).decode()

    def _from_json(self, text: Any) -> Any:
        if not isinstance(text, str):
            raise InvalidInput(f"takes a string, got {_kind(text)}")
        try:
            return self._out(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON: {exc}") from None


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidInput(f"the key must be a string, got {_kind(key)}")
    return key


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {lua_type(value) or 'Python object'}"


def _command_line(command: Any) -> str | list[str]:
    if isinstance(command, str):
        if not command.strip():
            raise InvalidInput("the command is empty")
        return command
    argv = to_python(command) if command is not None else None
    if not isinstance(argv, list) or not argv or not all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in argv):
        raise InvalidInput("takes a shell command string or a list of arguments such as "
                           "{'ls', '-l'}")
    return [str(item) for item in argv]


def _seconds(value: float | None) -> timedelta:
    return timedelta(seconds=value or 0)
