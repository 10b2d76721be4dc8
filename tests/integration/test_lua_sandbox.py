"""The Lua sandbox: what workflow code cannot reach, what it keeps, and stopping runaway code."""

from __future__ import annotations

import time

import pytest

from infrastructure.lua.modules import Modules
from infrastructure.lua.sandbox import LuaFailure, Sandbox


def _sandbox(seconds: float = 10.0) -> Sandbox:
    deadline = time.monotonic() + seconds
    sandbox = Sandbox(lambda: "timed out" if time.monotonic() >= deadline else None)
    Modules(sandbox, values={}, should_stop=lambda: None)
    return sandbox


def _fails(code: str, sandbox: Sandbox | None = None) -> str:
    with pytest.raises(LuaFailure) as caught:
        (sandbox or _sandbox()).run(code, "case.sloth")
    return caught.value.first_line


def _returns(code: str) -> object:
    sandbox = _sandbox()
    sandbox.run(f"result = (function() {code} end)()", "case.sloth")
    return sandbox.globals["result"]


@pytest.mark.parametrize(("code", "reason"), [
    ("io.open('/etc/passwd')", "attempt to index a nil value (global 'io')"),
    ("os.execute('touch /tmp/x')", "attempt to call a nil value (field 'execute')"),
    ("os.remove('/tmp/x')", "attempt to call a nil value (field 'remove')"),
    ("os.exit(1)", "attempt to call a nil value (field 'exit')"),
    ("python.eval('1 + 1')", "attempt to index a nil value (global 'python')"),
    ("loadfile('/etc/passwd')", "attempt to call a nil value (global 'loadfile')"),
    ("dofile('/etc/passwd')", "attempt to call a nil value (global 'dofile')"),
    ("require('os')", "attempt to call a nil value (global 'require')"),
    ("package.loadlib('libc.so.6', 'system')", "attempt to index a nil value (global 'package')"),
    ("debug.getregistry()", "attempt to index a nil value (global 'debug')"),
    ("load(string.dump(function() return 1 end))", "attempt to call a nil value (field 'dump')"),
    ("local dump = ('').dump; dump(print)", "attempt to call a nil value (local 'dump')"),
    ("collectgarbage('stop')", "collectgarbage('stop') is not available in a workflow"),
])
def test_dangerous_functions_are_refused(code: str, reason: str) -> None:
    assert _fails(code) == f"case.sloth:1: {reason}"


def test_binary_chunks_cannot_be_loaded() -> None:
    assert _returns("local f, err = load('\\27Lua\\84\\0'); return err") == (
        "attempt to load a binary chunk (mode is 't')")
    assert _returns("local f, err = load('\\27Lua', 'x', 'b'); return err") == (
        "attempt to load a binary chunk (mode is 't')")


def test_python_objects_expose_no_attributes() -> None:
    for expression in ("state.set.__globals__", "exec.run.__class__", "log.info.__self__"):
        message = _fails(f"local x = {expression}")
        assert message.startswith("case.sloth:1:"), message
    sandbox = _sandbox()
    raw = sandbox.lua.eval("function(f) return f.__globals__ end")
    with pytest.raises(AttributeError, match="cannot use attributes of Python objects"):
        raw(print)


def test_safe_parts_of_the_standard_library_remain() -> None:
    assert _returns("return type(os.time()) .. ' ' .. type(os.clock())") == "number number"
    assert _returns("return os.date('!%Y', 0)") == "1970"
    assert _returns("return os.getenv('HOME') ~= nil") is True
    assert _returns("return string.format('%03d', 7) .. table.concat({'a', 'b'}, ',')") == "007a,b"
    assert _returns("return math.floor(math.pi * 100)") == 314
    assert _returns("return load('return 40 + 2')()") == 42
    assert _returns("local co = coroutine.wrap(function(a) coroutine.yield(a + 1) end); "
                    "return co(1)") == 2
    assert _returns("local ok, err = pcall(error, 'x', 0); return err") == "x"


@pytest.mark.parametrize("code", [
    "while true do end",
    "while true do pcall(function() while true do end end) end",
    "coroutine.wrap(function() while true do end end)()",
    "local co = coroutine.create(function() while true do end end) "
    "while true do coroutine.resume(co) end",
    "local function f() return f() end f()",
])
def test_endless_lua_code_is_stopped_at_the_deadline(code: str) -> None:
    started = time.monotonic()
    message = _fails(code, _sandbox(seconds=0.2))
    assert "timed out" in message
    assert time.monotonic() - started < 2


def test_the_stop_names_the_line_that_was_running() -> None:
    assert _fails("local x = 0\nwhile true do\n  x = x + 1\nend", _sandbox(0.1)) in (
        "case.sloth:2: timed out", "case.sloth:3: timed out")


def test_a_lua_interpreter_has_a_memory_limit() -> None:
    sandbox = Sandbox(lambda: None, max_memory=64 << 20)
    with pytest.raises(LuaFailure, match="not enough memory"):
        sandbox.run("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end", "m")


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(LuaFailure) as caught:
        _sandbox().run("local a = 1\nlocal b = = 2", "case.sloth")
    assert caught.value.syntax
    assert caught.value.first_line == "case.sloth:2: unexpected symbol near '='"
    assert caught.value.location("case.sloth") == "case.sloth:2"


def test_error_objects_that_are_not_strings_are_described() -> None:
    assert _fails("error({code = 1})") == "(error object is a table value)"
    assert _fails("error(42)") == "42"
