"""Every command, every option, extreme values: nothing a user can type ends in exit 70.

The command tree is walked from the typer app itself, so a command added later is driven
too. Each example runs one command line in-process against a database with a few stacks and
checks the contract: an exit code from {0, 1, 2, 3, 4, 5}, at most one error line on stderr
(plus the holder's details for a lock conflict) or, under --json, one JSON error object, no
traceback, and no event appended by a refused command.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.core import TyperGroup
from typer.testing import CliRunner

from cli.events import _Stop
from cli.main import app
from tests.conftest import event_count

pytestmark = pytest.mark.slow

SEEDED = ("app", "db", "web")
UNPRINTABLE = {"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"}
EXTREMES = (
    "", " ", "0", "1", "-1", "v0", "v1", "v-1", "current", "all",
    "99999999999999999999", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "1" + "0" * 400, "1e400", "nan",
    "café", "\u202eevil", "a\x00b", "\x1b[31mred", "line\nbreak", "tab\there", "\udcff",
    "x" * 300, "-", "--", "-x", "@", "../..", "/nonexistent/file",
    "9999-12-31T23:59:59+23:59", "9999-12-31T23:59:59-23:59", "0001-01-01",
    "0001-01-01T00:00:00+23:59", "2025-13-45", "1970-01-01T00:00:00Z",
    "99999999999999999d", "36500d", "36501d", "0s", "1ms", "1h30m", "1h1h", "999999999ms",
    "k=v", "k:=1", "k:=99999999999999999999", "k:=[1,{\"a\":-99999999999999999999}]",
    "k:=1e400", "k=@/nonexistent/file", "k:=@/dev/null", "k=\\@x", "k:=@", "=v", "k:",
    "tree", "dot", "json", "mermaid", "out.dot", "out.json", "out.txt", "a\x00b.dot",
    "x" * 300 + ".dot", "no-such-dir/out.json",
)

# One of each kind, for the sweep of every option (the fuzzer draws from all of them).
CORE = (
    "", "-1", "0", "v0", "v-1", "current", "all", "99999999999999999999",
    "-9223372036854775809", "1" + "0" * 400, "café", "\u202eevil", "a\x00b", "\x1b[31mred",
    "line\nbreak", "\udcff", "x" * 300, "--", "@", "/nonexistent/file",
    "9999-12-31T23:59:59+23:59", "9999-12-31T23:59:59-23:59", "0001-01-01",
    "0001-01-01T00:00:00+23:59", "99999999999999999d", "36501d", "k:=99999999999999999999",
    "k=@/nonexistent/file", "a\x00b.dot", "x" * 300 + ".dot",
)


def _walk(group: TyperGroup, path: tuple[str, ...],
          context: typer.Context) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, TyperGroup):
            yield from _walk(command, (*path, name),
                             typer.Context(command, parent=context, info_name=name))
        elif command is not None:
            yield (*path, name), command


def _command_tree() -> list[tuple[tuple[str, ...], Any]]:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return sorted(_walk(root, (), typer.Context(root, info_name="sloth-runner")),
                  key=lambda item: item[0])


COMMANDS = _command_tree()


# Extreme and ordinary values; names of existing stacks, so that commands get far.
VALUES = st.one_of(st.sampled_from(SEEDED), st.sampled_from(EXTREMES), st.text(max_size=12),
                   st.integers(min_value=-(2**70), max_value=2**70).map(str))


@st.composite
def command_lines(draw: st.DrawFn, path: tuple[str, ...], command: Any) -> list[str]:
    """A command line for `command`: its arguments, some of its options, maybe --json."""
    args = ["--json"] if draw(st.booleans()) else []
    args += list(path)
    options: list[str] = []
    positionals: list[str] = []
    for parameter in command.params:
        if parameter.param_type_name == "argument":
            count = 1 if parameter.nargs == 1 else draw(st.integers(0, 3))
            if not parameter.required and draw(st.booleans()):
                count = 0
            positionals += [draw(VALUES) for _ in range(count)]
            continue
        if not draw(st.booleans()):
            continue
        name = draw(st.sampled_from(parameter.opts))
        if parameter.is_flag:
            options.append(name)
            continue
        for _ in range(draw(st.integers(1, 2)) if parameter.multiple else 1):
            options += [name, draw(VALUES)]
    # Options first, then `--`, so that values such as "-x" reach the command as arguments.
    return args + options + (["--", *positionals] if positionals else [])


class FastClock:
    """A monotonic clock that jumps a century on every sleep: `--wait` ends after one poll."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 100 * 365 * 86400 + seconds


@pytest.fixture
def fuzz_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with a few stacks, one of them locked by someone else; files the commands
    write land in tmp_path."""
    from commands.service import StackService

    original = StackService.__init__

    def without_real_waiting(self: StackService, *args: Any, **kwargs: Any) -> None:
        clock = FastClock()
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("monotonic", clock.monotonic)
        original(self, *args, **kwargs)

    monkeypatch.setattr(StackService, "__init__", without_real_waiting)
    # `serve` runs until it is stopped: its options, checks and database are driven, but it
    # does not listen.
    monkeypatch.setattr("server.run.serve", lambda options, listen: 0)
    monkeypatch.setattr(_Stop, "is_set", _stopped_after_two_looks)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fuzz.db"
    _populate(path)
    return path


def _stopped_after_two_looks(self: _Stop) -> bool:
    """Commands that run until stopped (`events follow`, `events process --follow`) stop
    after looking at the log twice."""
    looks = getattr(self, "looks", 0) + 1
    self.looks = looks  # type: ignore[attr-defined]
    return looks > 2


def _populate(path: Path) -> None:
    """(Re)create the fixed stacks a previous example destroyed, and the foreign lock."""
    live, locked = set(), set()
    if path.exists():
        with sqlite3.connect(path) as connection:
            live = {name for (name,) in connection.execute(
                "SELECT name FROM stacks WHERE status != 'destroyed'")}
            locked = {name for (name,) in connection.execute(
                "SELECT stack_name FROM state_locks")}
    runner = CliRunner()
    for name in SEEDED:
        if name in live:
            continue
        for args in (["stack", "create", name], ["stack", "state", "set", name, "k=v"],
                     ["stack", "snapshot", "create", name]):
            runner.invoke(app, ["--db", str(path), *args])
    if "db" not in locked:
        runner.invoke(app, ["--db", str(path), "stack", "lock", "acquire", "db", "--reason", "x"],
                      env={"SLOTH_RUNNER_ACTOR": "someone-else@elsewhere"})


def check_contract(path: Path, line: list[str]) -> None:
    """Run one command line and check everything the exit-code contract promises."""
    _populate(path)
    before = event_count(path)
    result = CliRunner().invoke(app, ["--db", str(path), *line])
    code, stderr = result.exit_code, result.stderr
    shown = f"sloth-runner {line!r} -> {code}\nstderr: {stderr}\nexception: {result.exception!r}"
    assert code in {0, 1, 2, 3, 4, 5}, shown
    assert "Traceback" not in stderr, shown
    if code in {2, 3, 4, 5}:
        assert event_count(path) == before, shown
    lines = stderr.splitlines()
    if "--json" in line and code in {0, 1} and result.stdout.strip():
        for document in _documents(line, result.stdout):
            json.loads(document)
    if "--json" in line and code != 0:
        assert len(lines) == 1, shown
        error = json.loads(lines[0])["error"]
        assert error["exit_code"] == code, shown
        assert error["code"] and error["message"], shown
        if code == 3 and "lock" in error:
            assert {"lock_id", "locked_by", "operation", "reason", "locked_at", "expires_at",
                    "generation"} <= set(error["lock"]), shown
        return
    errors = [text for text in lines if text.startswith("error:")]
    assert len(errors) <= 1, shown
    if code not in {0, 1}:
        assert lines and lines[0].startswith("error:"), shown
        rest = lines[1:]
        assert not rest or (code == 3 and rest[0] == "Lock Info:" and len(rest) == 8), shown
    for text in lines:
        assert not any(unicodedata.category(c) in UNPRINTABLE for c in text), shown


def _documents(line: list[str], stdout: str) -> list[str]:
    """What --json printed: one document, or JSON Lines for an event stream."""
    return stdout.splitlines() if "export" in line else [stdout]


FUZZ = settings(max_examples=8, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_command_line_ends_in_an_internal_error(fuzz_db: Path, path: tuple[str, ...],
                                                   command: Any) -> None:
    @FUZZ
    @given(line=command_lines(path, command))
    def run(line: list[str]) -> None:
        check_contract(fuzz_db, line)

    run()


OPTIONS = [(path, command, parameter) for path, command in COMMANDS
           for parameter in command.params if parameter.param_type_name == "option"
           and not parameter.is_flag]


@pytest.mark.parametrize(("path", "command", "parameter"), OPTIONS,
                         ids=[f"{' '.join(p)} {o.opts[0]}" for p, _, o in OPTIONS])
def test_every_option_takes_every_extreme_value(fuzz_db: Path, path: tuple[str, ...],
                                                command: Any, parameter: Any) -> None:
    arguments = [SEEDED[0] for p in command.params
                 if p.param_type_name == "argument" and p.required]
    for value in CORE:
        check_contract(fuzz_db, [*path, parameter.opts[0], value, *arguments])


def test_the_walk_finds_every_command_group() -> None:
    found = {path for path, _ in COMMANDS}
    assert {("stack", "create"), ("stack", "lock", "acquire"), ("stack", "snapshot", "prune"),
            ("stack", "deps", "graph"), ("stack", "validate"), ("events", "export"),
            ("projections", "rebuild"), ("stack", "drift", "fix")} <= found
    assert len(found) >= 40


@pytest.mark.parametrize("option", ["--db", "--config"])
def test_global_options_take_every_extreme_value(fuzz_db: Path, option: str) -> None:
    # Relative values only: the test runs in tmp_path and must not create files elsewhere.
    for value in (v for v in CORE if not v.startswith("/")):
        check_contract(fuzz_db, [option, value, "stack", "list"])
