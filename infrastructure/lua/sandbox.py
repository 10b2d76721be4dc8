"""A sandboxed Lua 5.4 interpreter: no files, no processes, no Python, and a deadline it obeys.

Lua code in a `.sloth` file sees the safe standard library (string, table, math, utf8,
coroutine, os.time/date/getenv/clock/difftime, text-only `load`) and whatever modules the
caller adds. It cannot reach Python objects' attributes (every attribute access from Lua is
refused), nor lupa's `python` module, `io`, `os.execute`, `require`, `package` or `debug`.

Stopping pure Lua code: Python threads cannot interrupt a running Lua loop, so a debug hook,
installed before `debug` is removed, asks Python every `HOOK_EVERY` instructions whether
the code must stop (deadline passed, run cancelled). If so it raises a Lua error, and from
then on checks at every instruction, so a loop that catches errors with `pcall` cannot
outlast it (the sandbox's own wrappers are exempt, so they can hand the error back). Lua
keeps hooks per coroutine, so `coroutine.create`/`wrap` install it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lupa.lua54 import LuaRuntime

HOOK_EVERY = 10_000
"""Instructions between two checks of the deadline (a check costs a few microseconds)."""
MAX_MEMORY = 1 << 30
"""What one Lua interpreter may allocate (bytes)."""

_SANDBOX = r"""
local check, every = ...
local sethook, getinfo = debug.sethook, debug.getinfo
local error, type, tostring, pcall, xpcall, select = error, type, tostring, pcall, xpcall, select
local pack, unpack = table.pack, table.unpack
local raw_load, raw_gc = load, collectgarbage
local create, resume = coroutine.create, coroutine.resume
local G = _G

-- Our own functions below finish even after a stop: their callers need their results.
local own = {}
local function hook()
  local running = getinfo(2, "f")
  if running and own[running.func] then return end
  local why = check()
  if why then
    sethook(hook, "", 1)
    error(why, 2)
  end
end
sethook(hook, "", every)

local function rearm()
  sethook(hook, "", every)
end

local function message_of(err)
  local kind = type(err)
  if kind == "string" then return err end
  if kind == "number" or kind == "boolean" or kind == "userdata" then
    local ok, text = pcall(tostring, err)
    if ok and type(text) == "string" then return text end
  end
  return "(error object is a " .. kind .. " value)"
end

local function handler(err)
  return message_of(err)
end

local function run(source, chunkname)
  local fn, err = raw_load(source, chunkname, "t", G)
  if not fn then return false, err, true end
  local result = pack(xpcall(fn, handler))
  if result[1] then return true, nil, false end
  return false, result[2], false
end

local function call(fn, ...)
  local result = pack(xpcall(fn, handler, ...))
  if result[1] then return true, pack(unpack(result, 2, result.n)) end
  return false, result[2]
end

local function line(level)
  local info = getinfo(level + 1, "l")
  return info and info.currentline or -1
end

own[rearm], own[message_of], own[handler], own[run], own[call] = true, true, true, true, true

coroutine.create = function(fn)
  local co = create(fn)
  sethook(co, hook, "", every)
  return co
end
coroutine.wrap = function(fn)
  local co = coroutine.create(fn)
  return function(...)
    local result = pack(resume(co, ...))
    if result[1] then return unpack(result, 2, result.n) end
    error(result[2], 0)
  end
end

load = function(chunk, chunkname, mode, ...)
  if select("#", ...) > 0 then return raw_load(chunk, chunkname, "t", (...)) end
  return raw_load(chunk, chunkname, "t", G)
end
collectgarbage = function(option, ...)
  option = option or "collect"
  if option == "collect" or option == "count" or option == "step" or option == "isrunning" then
    return raw_gc(option, ...)
  end
  error("collectgarbage('" .. tostring(option) .. "') is not available in a workflow", 2)
end
os = { time = os.time, date = os.date, getenv = os.getenv, clock = os.clock,
       difftime = os.difftime }
string.dump = nil
io, debug, package, require, dofile, loadfile, python, warn = nil, nil, nil, nil, nil, nil, nil, nil

return { run = run, call = call, rearm = rearm, line = line }
"""

_LOCATION = re.compile(r"^(?P<where>[^\n]*?:\d+): ")


def _refuse_attribute(obj: object, name: object, is_setting: bool) -> str:
    raise AttributeError(f"Lua code cannot use attributes of Python objects ('{name}')")


class LuaFailure(Exception):
    """Lua code raised an error (or did not compile)."""

    def __init__(self, message: str, *, syntax: bool = False) -> None:
        super().__init__(message)
        self.message = message
        """The error as Lua gives it, usually `file:line: text`."""
        self.syntax = syntax

    def __str__(self) -> str:
        return self.first_line

    @property
    def first_line(self) -> str:
        return self.message.strip().splitlines()[0] if self.message.strip() else "Lua error"

    def location(self, chunkname: str) -> str | None:
        """`file:line` when the error was raised in the chunk with this name."""
        match = _LOCATION.match(self.message)
        if match and match.group("where").startswith(f"{chunkname}:"):
            return match.group("where")
        return None


class Sandbox:
    """One sandboxed interpreter; use it from one thread only."""

    def __init__(self, check: Callable[[], str | None], *, max_memory: int = MAX_MEMORY) -> None:
        self._chunk = ("", "")
        # types-lupa's stub of LuaRuntime lists only unpack_returned_tuples; lupa takes them all.
        self.lua = LuaRuntime(register_eval=False, register_builtins=False,  # type: ignore[call-arg]
                              unpack_returned_tuples=True, attribute_filter=_refuse_attribute,
                              max_memory=max_memory)
        tools: Any = self.lua.execute(_SANDBOX, check, HOOK_EVERY)
        self._run = tools["run"]
        self._call = tools["call"]
        self._rearm = tools["rearm"]
        self.line: Callable[[int], int] = tools["line"]
        self.globals: Any = self.lua.globals()

    def run(self, source: str, chunkname: str) -> None:
        """Compile and run a chunk (text only); errors raise LuaFailure.

        Messages name the chunk `chunkname` however long it is (Lua itself cuts long names).
        """
        self._chunk = (_short_name(chunkname), chunkname)
        ok, error, syntax = self._run(source, "@" + self._chunk[0])
        if not ok:
            raise LuaFailure(self._explained(error), syntax=bool(syntax))

    def call(self, function: Any, *args: Any) -> list[Any]:
        """Call a Lua function; its results (as many as it returned). Errors raise LuaFailure."""
        ok, results = self._call(function, *args)
        if not ok:
            raise LuaFailure(self._explained(results))
        return [results[index] for index in range(1, results["n"] + 1)]

    def _explained(self, message: object) -> str:
        text = message if isinstance(message, str) else str(message)
        if text == "not enough memory":
            return f"not enough memory (a workflow may use {MAX_MEMORY >> 20} MiB)"
        short, full = self._chunk
        if short != full and text.startswith(f"{short}:"):
            return full + text[len(short):]
        return text

    def rearm(self) -> None:
        """After a stop: check again only every HOOK_EVERY instructions (for hooks that follow)."""
        self._rearm()

    def table(self, *args: Any) -> Any:
        return self.lua.table(*args)

    def compile(self, source: str) -> Any:
        return self.lua.eval(source)


def _short_name(chunkname: str) -> str:
    """A name Lua shows whole in messages (it cuts names longer than 59 characters)."""
    name = chunkname.rsplit("/", 1)[-1][-40:]
    return name or "workflow"
