"""A reader that goes away (`| head -1`): the command stops quietly, exit 0, and what it
committed stays committed. Real processes and real pipes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import SCRIPT, Database, ProcRun, database_env, event_count


@pytest.fixture
def closed_stdout() -> Iterator[int]:
    """The write end of a pipe whose read end is already closed: every write fails (EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    yield write_end
    os.close(write_end)


def run_into(closed: int, db_path: Database, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **database_env(db_path)}
    return subprocess.run([SCRIPT, *args], stdout=closed, stderr=subprocess.PIPE, text=True,
                          env=environment, timeout=60, check=False)


def many_events(proc: ProcRun, count: int = 400) -> None:
    """More output than a pipe buffers, so that the writer really meets the closed pipe."""
    assert proc("stack", "create", "app").returncode == 0
    assignments = [f"key-{n:04d}={'v' * 200}" for n in range(count)]
    assert proc("stack", "state", "set", "app", *assignments).returncode == 0


@pytest.mark.parametrize("args", [
    ("events", "export"),
    ("events", "list"),
    ("events", "list", "--json"),
    ("stack", "list"),
    ("stack", "show", "app"),
    ("stack", "history", "app"),
    ("--help",),
    ("stack", "lock", "--help"),
])
def test_reads_into_a_closed_pipe_stop_quietly(proc: ProcRun, db_path: Database, closed_stdout: int,
                                               args: tuple[str, ...]) -> None:
    many_events(proc)
    result = run_into(closed_stdout, db_path, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_committed_write_whose_output_pipe_closed_succeeds(
        proc: ProcRun, db_path: Database, closed_stdout: int, json_flag: list[str]) -> None:
    proc("stack", "list")
    result = run_into(closed_stdout, db_path, *json_flag, "stack", "create", "piped")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert event_count(db_path) == 1
    assert proc("stack", "show", "piped").returncode == 0


def test_an_error_still_reaches_stderr_when_stdout_is_closed(db_path: Database,
                                                             closed_stdout: int) -> None:
    result = run_into(closed_stdout, db_path, "stack", "show", "nope")
    assert result.returncode == 4
    assert result.stderr == "error: stack 'nope' not found\n"


def test_export_piped_into_head(proc: ProcRun, db_path: Database) -> None:
    many_events(proc)
    environment = {**os.environ, **database_env(db_path)}
    export = subprocess.Popen([SCRIPT, "events", "export"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=environment)
    head = subprocess.Popen(["head", "-1"], stdin=export.stdout, stdout=subprocess.PIPE)
    assert export.stdout is not None and export.stderr is not None
    export.stdout.close()  # only head reads the pipe now
    first, _ = head.communicate(timeout=60)
    assert export.wait(timeout=60) == 0
    assert export.stderr.read() == b""
    export.stderr.close()
    assert json.loads(first)["type"] == "stack.created"
