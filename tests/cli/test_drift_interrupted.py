"""A long `drift fix` keeps its lease alive, and Ctrl-C leaves a record of what it changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import SCRIPT, Database, ProcRun, database_env

SLOW_FIX = """\
resources:
  - name: first
    type: file
    path: {srv}/first
    content: "done\\n"
  - name: slow
    type: command
    check: ["test", "-f", "{srv}/slow-done"]
    fix: ["sh", "-c", "touch {srv}/slow-started; sleep {seconds}; touch {srv}/slow-done"]
    timeout: 60s
    depends_on: [first]
"""


def declare(proc: ProcRun, tmp_path: Path, seconds: float, config: str = "") -> Path:
    srv = tmp_path / "srv"
    srv.mkdir()
    resources = tmp_path / "resources.yaml"
    resources.write_text(SLOW_FIX.format(srv=srv, seconds=seconds))
    env = {"SLOTH_RUNNER_CONFIG": config} if config else None
    for args in (("stack", "create", "app"), ("stack", "resources", "apply", "app", "-f",
                                               str(resources))):
        assert proc(*args, env=env).returncode == 0
    return srv


def events(proc: ProcRun, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    result = proc("events", "list", "--stack", "app", "--json", env=env)
    return list(json.loads(result.stdout)["events"])


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_ctrl_c_during_a_fix_records_what_was_repaired_and_releases_the_lock(
        proc: ProcRun, tmp_path: Path, db_path: Database) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_lock: true\n")
    srv = declare(proc, tmp_path, seconds=60, config=str(config))
    env = {**os.environ, **database_env(db_path), "SLOTH_RUNNER_CONFIG": str(config)}
    fixing = subprocess.Popen([SCRIPT, "stack", "drift", "fix", "app", "--auto-approve"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(srv / "slow-started")
    fixing.send_signal(signal.SIGINT)
    _, stderr = fixing.communicate(timeout=30)
    assert fixing.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert (srv / "first").read_text() == "done\n"
    assert not (srv / "slow-done").exists()
    logged = events(proc, {"SLOTH_RUNNER_CONFIG": str(config)})
    fixed = [e for e in logged if e["type"] == "drift.fixed"]
    assert len(fixed) == 1
    data = fixed[0]["data"]
    assert data["interrupted"] is True  # type: ignore[index]
    assert [(f["name"], f["result"]) for f in data["resources"]] == [  # type: ignore[index]
        ("first", "repaired")]
    assert [e["type"] for e in logged][-2:] == ["drift.fixed", "lock.released"]
    status = json.loads(proc("stack", "lock", "status", "app", "--json").stdout)
    assert status["status"] == "UNLOCKED"


@pytest.mark.slow
def test_a_fix_longer_than_the_lease_keeps_it_renewed(proc: ProcRun, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_lock: true\n  lock_timeout: 1s\n")
    declare(proc, tmp_path, seconds=1.5, config=str(config))
    result = proc("stack", "drift", "fix", "app", "--auto-approve",
                  env={"SLOTH_RUNNER_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    kinds = [e["type"] for e in events(proc, {"SLOTH_RUNNER_CONFIG": str(config)})]
    held = kinds[kinds.index("lock.acquired"):]
    assert "lock.renewed" in held[:held.index("drift.fixed")]
    assert "lock.expired" not in kinds
    assert held[-1] == "lock.released"
