"""`events process` and `events follow` as real processes: a crash loses nothing, SIGTERM
lets deliveries in flight finish, and a follower sees what another process writes."""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from commands.models import CreateStack, SetValues
from infrastructure.runtime import Runtime
from tests.conftest import SCRIPT, ProcRun, database_env, invocation, rows
from tests.conftest import settings as settings_of

pytestmark = pytest.mark.slow


def no_inline_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("hooks:\n  inline: false\n  poll_interval: 100ms\n")
    return config


def start(db_path: Path, config: Path, *args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, **database_env(db_path), "SLOTH_RUNNER_CONFIG": str(config)}
    return subprocess.Popen([SCRIPT, *args], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def positions(path: Path) -> list[int]:
    return [json.loads(line)["position"] for line in path.read_text().splitlines()]


def write_events(db_path: Path, count: int) -> list[int]:
    """`count` state.set events on stack 'app' (written in-process, quickly); their positions."""
    runtime = Runtime(settings_of(db_path))
    try:
        runtime.service().create_stack(CreateStack(stack="app"), invocation())
        head = runtime.event_log().head()
        for index in range(count):
            runtime.service().set_values(SetValues(stack="app", values={"n": index}),
                                         invocation())
        return [n.id for n in runtime.event_log().notifications(head)]
    finally:
        runtime.close()


def tracked(db_path: Path) -> dict[str, int]:
    return {str(hook): int(str(position))
            for hook, position in rows(db_path, "SELECT hook, position FROM hook_tracking")}


def test_kill_9_mid_stream_then_restart_delivers_everything(proc: ProcRun, db_path: Path,
                                                            tmp_path: Path) -> None:
    config = no_inline_config(tmp_path)
    outputs = {name: tmp_path / f"{name}.jsonl" for name in ("first", "second")}
    for name, out in outputs.items():
        command = f"sh -c {shlex.quote(f'cat >> {out}; sleep 0.02')}"
        added = proc("--config", str(config), "hooks", "add", name, "--on", "state.set",
                     "--run", command)
        assert added.returncode == 0, added.stderr
    expected = write_events(db_path, 120)
    processor = start(db_path, config, "events", "process", "--follow", "--workers", "8")
    wait_for(lambda: min(count_lines(out) for out in outputs.values()) >= 20)
    processor.send_signal(signal.SIGKILL)
    processor.wait(timeout=30)
    recorded = tracked(db_path)
    assert min(recorded.values()) < expected[-1], "the processor finished before the kill"
    restarted = proc("--config", str(config), "events", "process", timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    for name, out in outputs.items():
        seen = positions(out)
        assert sorted(set(seen)) == expected, name
        duplicates = {position for position, times in Counter(seen).items() if times > 1}
        in_flight = {position for position in expected if position > recorded[name]}
        assert duplicates <= set(sorted(in_flight)[:1]), (name, duplicates, recorded[name])
        assert seen == sorted(seen)  # in log order, a repeat only right where it stopped


def test_sigterm_lets_the_delivery_in_flight_finish_and_exits_0(proc: ProcRun, db_path: Path,
                                                                 tmp_path: Path) -> None:
    config = no_inline_config(tmp_path)
    started, out = tmp_path / "started", tmp_path / "out.jsonl"
    command = f"sh -c {shlex.quote(f'echo go >> {started}; sleep 1; cat >> {out}')}"
    proc("--config", str(config), "hooks", "add", "slow", "--on", "state.set", "--run", command)
    expected = write_events(db_path, 3)
    processor = start(db_path, config, "events", "process", "--follow")
    wait_for(lambda: count_lines(started) == 1)
    processor.send_signal(signal.SIGTERM)
    assert processor.wait(timeout=30) == 0, processor.stderr.read()  # type: ignore[union-attr]
    assert count_lines(started) == 1
    assert positions(out) == expected[:1]
    assert tracked(db_path)["slow"] == expected[0]
    summary = proc("--config", str(config), "events", "process", "--json")
    assert json.loads(summary.stdout)["delivered"] == 2
    assert positions(out) == expected


def test_events_follow_shows_what_another_process_writes_within_a_second(
        proc: ProcRun, db_path: Path, tmp_path: Path) -> None:
    config = no_inline_config(tmp_path)
    proc("stack", "create", "app")
    follower = start(db_path, config, "events", "follow", "--json", "--type", "state.*")
    assert follower.stdout is not None
    try:
        def line_within(seconds: float) -> str | None:
            ready, _, _ = select.select([follower.stdout], [], [], seconds)
            if not ready:
                return None
            line = follower.stdout.readline()  # type: ignore[union-attr]
            assert line, f"the follower ended: {follower.stderr.read()}"  # type: ignore[union-attr]
            return line

        for attempt in range(30):  # until the follower has started reading
            proc("stack", "state", "set", "app", f"warmup={attempt}")
            if line_within(0.5) is not None:
                break
        else:
            pytest.fail("the follower printed nothing")
        while line_within(0.3) is not None:
            pass
        proc("stack", "lock", "acquire", "app")  # filtered out by --type
        assert proc("stack", "state", "set", "app", "k=v", "--lock-id",
                    _lock_id(db_path)).returncode == 0
        written = time.monotonic()
        line = line_within(1.0)
        assert line is not None, "nothing within a second"
        assert time.monotonic() - written < 1.0
        event = json.loads(line)
        assert (event["type"], event["stack"], event["data"]) == (
            "state.set", "app", {"key": "k", "value": "v"})
    finally:
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0


def _lock_id(db_path: Path) -> str:
    return str(rows(db_path, "SELECT lock_id FROM state_locks")[0][0])
