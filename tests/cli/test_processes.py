"""Real processes: exit codes through the console script, and races between processes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import SCRIPT, Database, ProcRun, database_env, event_count


def test_exit_codes_through_the_console_script(proc: ProcRun) -> None:
    assert proc("stack", "create", "app").returncode == 0
    assert proc("stack", "create", "app").returncode == 5
    assert proc("stack", "show", "nope").returncode == 4
    assert proc("stack", "create", "bad name").returncode == 2
    assert proc("stack", "frobnicate").returncode == 2
    assert proc("stack", "destroy", "app").returncode == 2  # no TTY and no --yes
    listing = proc("stack", "list")
    assert listing.returncode == 0
    assert "Total: 1 stack" in listing.stdout
    assert proc("--version").stdout.startswith("sloth-runner ")


@pytest.mark.slow
def test_two_processes_creating_one_name_at_once(db_path: Database, proc: ProcRun) -> None:
    proc("stack", "list")  # the database exists before the race
    environment = {**os.environ, **database_env(db_path)}
    for round_number in range(6):
        name = f"race-{round_number}"
        racers = [subprocess.Popen([SCRIPT, "stack", "create", name], env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(2)]
        results = [(p.wait(timeout=60), p.stderr.read()) for p in racers]  # type: ignore[union-attr]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 5], results
        loser_message = next(err for code, err in results if code == 5)
        assert loser_message.strip() == f"error: stack '{name}' already exists"
    assert event_count(db_path) == 6


def test_default_database_lives_in_the_user_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stack", "create", "app"])
    assert result.exit_code == 0, result.stderr
    expected = Path(os.environ["XDG_DATA_HOME"]) / "sloth-runner" / "stacks.db"
    assert expected.exists()
    assert event_count(expected) == 1


def test_database_from_environment_and_config(tmp_path: Path) -> None:
    from_env = tmp_path / "env.db"
    from_config = tmp_path / "config.db"
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  database_path: {from_config}\n  lock_timeout: 30m\n")
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(config), "stack", "create", "a"]).exit_code == 0
    assert event_count(from_config) == 1
    result = runner.invoke(app, ["stack", "create", "b"],
                           env={"SLOTH_RUNNER_CONFIG": str(config),
                                "SLOTH_RUNNER_DB_PATH": str(from_env)})
    assert result.exit_code == 0
    assert event_count(from_env) == 1
    assert event_count(from_config) == 1
