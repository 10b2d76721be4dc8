"""Locks across real processes: one winner per race, waiting, and contention without errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCRIPT, Database, ProcRun, database_env, rows

ROOT = Path(__file__).resolve().parents[2]


def environment(db_path: Database, actor: str) -> dict[str, str]:
    return {**os.environ, **database_env(db_path), "SLOTH_RUNNER_ACTOR": actor}


def lock_events(db_path: Database, stack: str) -> list[tuple[str, str]]:
    return [(str(kind), str(actor)) for kind, actor in rows(
        db_path, "SELECT event_type, actor FROM state_events WHERE stack_name = ? AND"
        " event_type LIKE 'lock.%' ORDER BY id", (stack,))]


@pytest.mark.slow
def test_sixteen_processes_race_for_one_lock_twenty_times(db_path: Database, proc: ProcRun) -> None:
    assert proc("stack", "create", "contested").returncode == 0
    for round_number in range(20):
        racers = [subprocess.Popen([SCRIPT, "stack", "lock", "acquire", "contested", "--json"],
                                   env=environment(db_path, f"racer-{round_number}-{i}"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for i in range(16)]
        outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
                    for p in racers]
        winners = [out for code, out, _ in outcomes if code == 0]
        losers = [err for code, _, err in outcomes if code != 0]
        assert len(winners) == 1, outcomes
        assert all(code in (0, 3) for code, _, _ in outcomes), outcomes
        assert all("is locked by racer-" in err for err in losers)
        lock_id = json.loads(winners[0])["lock"]["lock_id"]
        released = proc("stack", "lock", "release", "contested", "--lock-id", lock_id)
        assert released.returncode == 0, released.stderr
    events = lock_events(db_path, "contested")
    assert [kind for kind, _ in events] == ["lock.acquired", "lock.released"] * 20
    holders = [actor for kind, actor in events if kind == "lock.acquired"]
    assert len(holders) == 20


@pytest.mark.slow
def test_eight_processes_cycling_on_eight_stacks_never_fail(db_path: Database, proc: ProcRun) -> None:
    for i in range(8):
        assert proc("stack", "create", f"s{i}").returncode == 0
    cycles = 25
    worker = ROOT / "scripts" / "benchmarks" / "_lock_worker.py"  # the benchmark's own worker
    workers = [subprocess.Popen([sys.executable, str(worker), str(db_path), f"s{i}", str(cycles)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for i in range(8)]
    results = [(w.wait(timeout=300), w.stdout.read(), w.stderr.read())  # type: ignore[union-attr]
               for w in workers]
    for code, out, err in results:
        assert code == 0, err
        done, failures, _seconds = out.split()
        assert (int(done), int(failures)) == (cycles, 0), err
        assert err == ""
    for i in range(8):
        assert [k for k, _ in lock_events(db_path, f"s{i}")] == [
            "lock.acquired", "lock.released"] * cycles


@pytest.mark.slow
def test_wait_succeeds_when_the_holder_releases_in_time(db_path: Database, proc: ProcRun) -> None:
    proc("stack", "create", "app")
    assert proc("stack", "lock", "acquire", "app", "--operation", "deploy",
                env={"SLOTH_RUNNER_ACTOR": "first"}).returncode == 0
    waiter = subprocess.Popen([SCRIPT, "stack", "lock", "acquire", "app", "--wait", "60s"],
                              env=environment(db_path, "second"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    # The waiter says once, on stderr, whom it is waiting for; then the holder lets go.
    notice = waiter.stderr.readline()  # type: ignore[union-attr]
    assert "waiting for the lock on 'app', held by first (deploy)" in notice
    assert proc("stack", "lock", "release", "app",
                env={"SLOTH_RUNNER_ACTOR": "first"}).returncode == 0
    assert waiter.wait(timeout=60) == 0
    assert "Lock acquired" in waiter.stdout.read()  # type: ignore[union-attr]
    assert [actor for kind, actor in lock_events(db_path, "app") if kind == "lock.acquired"] == [
        "first", "second"]


@pytest.mark.slow
def test_wait_times_out_with_exit_3(db_path: Database, proc: ProcRun) -> None:
    proc("stack", "create", "app")
    proc("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "first"})
    result = proc("stack", "lock", "acquire", "app", "--wait", "1s",
                  env={"SLOTH_RUNNER_ACTOR": "second"})
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert lines[0].startswith("waiting for the lock on 'app', held by first")
    assert lines[1].startswith("error: gave up after 1s: stack 'app' is still locked by first")
    assert len(lock_events(db_path, "app")) == 1
