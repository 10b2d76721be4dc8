"""Locks on PostgreSQL across real processes, each with its own connection: one winner a round."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands.models import CreateStack, ReleaseLock
from commands.service import StackService
from domain.names import stack_id
from infrastructure.clock import now
from infrastructure.eventstore import open_postgres_store
from tests.conftest import invocation

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RACERS = 16
ROUNDS = 20
TIMEOUT = 120


class Racer:
    """A racer process; its output lines are read by a thread, so waiting can time out."""

    def __init__(self, url: str, stack: str, name: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.pg_lock_racer", url, stack, name], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        line = self.lines.get(timeout=TIMEOUT)
        if not line:
            self.process.wait(timeout=TIMEOUT)
            assert self.process.stderr is not None
            pytest.fail(f"a racer ended early: {self.process.stderr.read()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def finish(self) -> str:
        """End the process; its stderr."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stderr is not None
        return self.process.stderr.read()


def sessions(url: str) -> int:
    """Connections of this program (by application name) to the test database."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'sloth-runner'").fetchone()
    return int(row[0]) if row else 0


def test_sixteen_processes_race_for_one_lock_twenty_times(postgres_url: str) -> None:
    store = open_postgres_store(postgres_url, create_tables=True)
    service = StackService(store, clock=now, paths_back=lambda stack, dependencies: {})
    service.create_stack(CreateStack(stack="contested"), invocation())
    racers = [Racer(postgres_url, "contested", f"racer-{i}") for i in range(RACERS)]
    try:
        assert [racer.receive() for racer in racers] == [{"ready": True}] * RACERS
        assert sessions(postgres_url) >= RACERS + 1  # each racer, and this test, connected
        winners: list[str] = []
        for round_number in range(ROUNDS):
            for racer in racers:
                racer.send(f"acquire {round_number}")
            outcomes = [racer.receive() for racer in racers]
            won = [o for o in outcomes if o.get("won") is True]
            assert len(won) == 1, outcomes
            winner = won[0]
            assert winner["generation"] == round_number + 1
            losers = [o for o in outcomes if o is not winner]
            assert all(o.get("won") is False and o["holder"] == winner["actor"]
                       for o in losers), outcomes
            service.release_lock(ReleaseLock(stack="contested"),
                                 invocation(winner["actor"], lock_id=winner["lock_id"]))
            winners.append(winner["actor"])
    finally:
        errors = [racer.finish() for racer in racers]
        store.close()
    assert errors == [""] * RACERS
    fresh = open_postgres_store(postgres_url, create_tables=False)
    try:
        events = list(fresh.events.get(stack_id("contested")))
    finally:
        fresh.close()
    assert [type(e).TOPIC for e in events] == (  # type: ignore[attr-defined]
        ["stack.created"] + ["lock.acquired", "lock.released"] * ROUNDS)
    assert [e.actor for e in events[1::2]] == winners  # type: ignore[attr-defined]
