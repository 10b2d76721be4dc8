"""Two people at two shells, one database: each sees the other's locks, snapshots and history.

Run on a SQLite file and on a PostgreSQL database alike (the `proc` fixture runs the installed
command in real processes against either); the expectations are the same on both.
"""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ProcRun


class Shell:
    """One person's shell: their own SLOTH_RUNNER_ACTOR, the shared database."""

    def __init__(self, proc: ProcRun, actor: str) -> None:
        self.proc = proc
        self.actor = actor

    def run(self, *args: str, expect: int = 0) -> str:
        result = self.proc(*args, env={"SLOTH_RUNNER_ACTOR": self.actor})
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result.stdout if expect == 0 else result.stderr

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))


def test_two_shells_see_each_others_locks_snapshots_and_history(proc: ProcRun) -> None:
    alice, bob = Shell(proc, "alice@laptop"), Shell(proc, "bob@ci-runner")
    alice.run("stack", "create", "app", "--description", "shared")
    alice.run("stack", "state", "set", "app", "region=eu")
    lock = alice.json("stack", "lock", "acquire", "app", "--operation", "deploy")["lock"]

    # Bob sees Alice's lock, and the lock holds him off.
    seen = bob.json("stack", "lock", "status", "app")
    assert (seen["status"], seen["lock"]["locked_by"], seen["lock"]["lock_id"]) == (
        "LOCKED", "alice@laptop", lock["lock_id"])
    refused = bob.run("stack", "state", "set", "app", "region=us", expect=3)
    assert "locked by alice@laptop" in refused
    assert [entry["locked_by"] for entry in bob.json("stack", "lock", "list")["locks"]] == [
        "alice@laptop"]

    # Alice takes a snapshot under her lock; Bob sees it, and who made it.
    alice.run("stack", "snapshot", "create", "app", "--description", "before deploy")
    snapshots = bob.json("stack", "snapshot", "list", "app")["snapshots"]
    assert [(s["version"], s["creator"], s["description"]) for s in snapshots] == [
        (1, "alice@laptop", "before deploy")]

    # The lock changes hands: Alice releases, Bob takes it, and Alice sees Bob's lock.
    alice.run("stack", "lock", "release", "app")
    bob.run("stack", "lock", "acquire", "app", "--reason", "hotfix")
    assert alice.json("stack", "lock", "status", "app")["lock"]["locked_by"] == "bob@ci-runner"
    alice.run("stack", "state", "set", "app", "region=us", expect=3)
    bob.run("stack", "state", "set", "app", "region=us")
    bob.run("stack", "lock", "release", "app")

    # One history, the same from both shells, each change by whoever made it.
    history = alice.json("stack", "history", "app")["history"]
    assert history == bob.json("stack", "history", "app")["history"]
    assert [(h["kind"], h["actor"]) for h in reversed(history)] == [
        ("stack.created", "alice@laptop"), ("state.set", "alice@laptop"),
        ("lock.acquired", "alice@laptop"), ("snapshot.created", "alice@laptop"),
        ("lock.released", "alice@laptop"), ("lock.acquired", "bob@ci-runner"),
        ("state.set", "bob@ci-runner"), ("lock.released", "bob@ci-runner")]
    assert alice.json("stack", "show", "app")["values"] == {"region": "us"}
    assert alice.run("events", "export") == bob.run("events", "export")
