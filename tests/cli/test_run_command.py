"""`sloth-runner run` end to end: locks and snapshots honoured, executions recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_bad_input import assert_refused
from tests.conftest import (
    SCRIPT,
    CliRun,
    Database,
    ProcRun,
    database_env,
    event_count,
    read_model_dump,
)

# The specification's Workflow DSL Integration example as written, with its `exec.run` given a
# command that exists.
SPEC_WORKFLOW = (Path(__file__).parent.parent / "fixtures" / "production_deploy.sloth").read_text()


def refused(cli: CliRun, db_path: Database, args: list[str], code: int, fragment: str) -> None:
    before = event_count(db_path)
    assert_refused(cli(*args), code, db_path, before, fragment=fragment)


def write(tmp_path: Path, text: str, name: str = "deploy.sloth") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def document(result: Any) -> dict[str, Any]:
    assert result.exit_code in (0, 1), result.stderr
    return dict(json.loads(result.stdout))


def events_of(cli: CliRun, stack: str) -> list[dict[str, Any]]:
    return list(json.loads(cli("events", "list", "--stack", stack, "--json").stdout)["events"])


def test_the_documented_workflow_runs_under_its_lock_after_a_snapshot(
        cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    assert cli("stack", "create", "production-stack").exit_code == 0
    workflow = write(tmp_path, SPEC_WORKFLOW)
    result = cli("run", "production_deploy", "--file", str(workflow), "--stack",
                 "production-stack")
    assert result.exit_code == 0, result.stderr
    assert "Lock: acquired on 'production-stack'" in result.stdout
    assert "Snapshot: v1 of 'production-stack' taken before the run" in result.stdout
    assert "deploy_app" in result.stdout and "Deployment successful" in result.stdout
    kinds = [e["type"] for e in events_of(cli, "production-stack")]
    assert kinds[kinds.index("lock.acquired"):] == [
        "lock.acquired", "snapshot.created", "stack.execution.started", "state.set",
        "state.set", "stack.execution.completed", "lock.released"]
    logged = events_of(cli, "production-stack")
    started = next(e for e in logged if e["type"] == "stack.execution.started")
    state_sets = [e for e in logged if e["type"] == "state.set"]
    assert {e["source"] for e in state_sets} == {"workflow"}
    assert {e["correlation_id"] for e in state_sets} == {started["data"]["execution_id"]}
    assert started["data"]["file_sha256"] and started["data"]["tasks"] == ["deploy_app"]
    shown = json.loads(cli("stack", "show", "production-stack", "--json").stdout)
    assert shown["values"]["deployment_version"] == "v2.0.0"
    assert (shown["status"], shown["lock_status"]) == ("completed", "UNLOCKED")
    assert shown["last_run"]["workflow"] == "production_deploy"
    listing = cli("stack", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("production-stack"))
    assert row.split()[1] == "completed" and row.split()[-1] == "1"
    incremental = read_model_dump(db_path)
    assert cli("projections", "rebuild").exit_code == 0
    assert read_model_dump(db_path) == incremental


def test_the_workflow_may_be_left_out_when_the_file_has_one(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    report = document(cli("run", "--file", str(write(tmp_path, SPEC_WORKFLOW)), "--stack",
                          "app", "--json"))
    assert (report["status"], report["workflow"]) == ("completed", "production_deploy")
    assert report["tasks"][0]["name"] == "deploy_app"
    assert report["lock_id"] and report["snapshot_version"] == 1


PARALLEL = """\
local function wait_task(name)
    return task(name):command(function()
        exec.run("sleep 0.4")
        return true, "slept", { at = os.clock() }
    end):build()
end
workflow.define("fanout", {
    tasks = { wait_task("a"), wait_task("b"), wait_task("c"), wait_task("d") },
    config = { max_parallel_tasks = 2 },
})
"""


def test_parallel_tasks_overlap_and_the_limit_holds(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    started = time.monotonic()
    report = document(cli("run", "--file", str(write(tmp_path, PARALLEL)), "--stack", "app",
                          "--json"))
    took = time.monotonic() - started
    assert report["status"] == "completed"
    # Four 0.4 s tasks two at a time: about 0.8 s, well under the 1.6 s one at a time takes.
    assert 0.8 <= took < 1.5


FAILING = """\
local one = task("one"):command(function() state.set("one", true); return true, "ok" end):build()
local two = task("two"):depends_on({"one"}):command(function()
    state.set("two", true)
    error("the database refused")
end):build()
local three = task("three"):depends_on({"two"}):command(function() return true end):build()
local other = task("other"):command(function() return true, "independent" end):build()
workflow.define("rollout", { tasks = { one, two, three, other },
    config = { require_lock = true, create_snapshot = true, rollback_on_failure = true } })
"""


def test_a_failing_task_skips_its_dependants_rolls_back_and_releases_the_lock(
        cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "before=1")
    result = cli("run", "--file", str(write(tmp_path, FAILING)), "--stack", "app")
    assert result.exit_code == 1, result.stderr
    assert "the database refused" in result.stdout
    assert "State restored to v1" in result.stdout
    executions = json.loads(cli("stack", "executions", "list", "app", "--json").stdout)
    run = executions["executions"][0]
    statuses = {t["name"]: t["status"] for t in run["tasks"]}
    assert statuses == {"one": "succeeded", "two": "failed", "three": "skipped",
                        "other": "succeeded"}
    assert (run["status"], run["reason"], run["rolled_back_to"]) == ("failed", "failed", 1)
    assert ":4" in next(t for t in run["tasks"] if t["name"] == "two")["location"]
    shown = json.loads(cli("stack", "show", "app", "--json").stdout)
    assert shown["values"] == {"before": "1"}
    assert (shown["status"], shown["lock_status"]) == ("failed", "UNLOCKED")


TIMEOUTS = """\
local spin = task("spin"):timeout("1s"):command(function()
    while true do end
end):build()
local sleepy = task("sleepy"):timeout("1s"):command(function()
    exec.run("sleep 1000")
    return true
end):build()
workflow.define("stuck", { tasks = { spin, sleepy } })
"""


def test_timeouts_stop_an_endless_loop_and_an_endless_command(cli: CliRun,
                                                              tmp_path: Path) -> None:
    cli("stack", "create", "app")
    started = time.monotonic()
    report = document(cli("run", "--file", str(write(tmp_path, TIMEOUTS)), "--stack", "app",
                          "--json"))
    assert time.monotonic() - started < 10
    assert report["status"] == "failed"
    assert {t["name"]: t["status"] for t in report["tasks"]} == {"spin": "timed_out",
                                                                "sleepy": "timed_out"}


SANDBOX = """\
local escape = task("escape"):command(function()
    local ok, why = pcall(function() return io.open("/etc/passwd") end)
    local ok2, why2 = pcall(function() return os.execute("true") end)
    return not ok and not ok2, tostring(why) .. " | " .. tostring(why2)
end):build()
workflow.define("escape", { tasks = { escape } })
"""


def test_the_sandbox_refuses_io_and_os_execute(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    report = document(cli("run", "--file", str(write(tmp_path, SANDBOX)), "--stack", "app",
                          "--json"))
    assert report["status"] == "completed", report


SLOW = """\
local slow = task("slow"):command(function()
    state.set("began", true)
    exec.run("touch {marker}; sleep 60")
    return true
end):build()
workflow.define("slow", {{ tasks = {{ slow }}, config = {{ require_lock = true }} }})
"""


def start_slow(tmp_path: Path, db_path: Database, config: Path | None = None) -> tuple[
        subprocess.Popen[str], Path]:
    marker = tmp_path / "started"
    workflow = write(tmp_path, SLOW.format(marker=marker), "slow.sloth")
    env = {**os.environ, **database_env(db_path)}
    if config is not None:
        env["SLOTH_RUNNER_CONFIG"] = str(config)
    process = subprocess.Popen([SCRIPT, "run", "--file", str(workflow), "--stack", "app"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and process.poll() is None, process.stderr
        time.sleep(0.02)
    return process, workflow


@pytest.mark.slow
def test_ctrl_c_records_an_interrupted_run_and_releases_the_lock(
        proc: ProcRun, tmp_path: Path, db_path: Database) -> None:
    assert proc("stack", "create", "app").returncode == 0
    running, _ = start_slow(tmp_path, db_path)
    running.send_signal(signal.SIGINT)
    _, err = running.communicate(timeout=30)
    assert running.returncode == 130, err
    assert "Traceback" not in err
    executions = json.loads(proc("stack", "executions", "list", "app", "--json").stdout)
    run = executions["executions"][0]
    assert (run["status"], run["reason"]) == ("failed", "interrupted")
    status = json.loads(proc("stack", "lock", "status", "app", "--json").stdout)
    assert status["status"] == "UNLOCKED"


@pytest.mark.slow
def test_two_runs_at_once_one_runs_the_other_is_refused(proc: ProcRun, tmp_path: Path,
                                                        db_path: Database) -> None:
    proc("stack", "create", "app")
    running, workflow = start_slow(tmp_path, db_path)
    try:
        other = proc("run", "--file", str(workflow), "--stack", "app",
                     env={"SLOTH_RUNNER_ACTOR": "someone@else"})
        assert other.returncode == 3, other.stderr
        assert "is locked by" in other.stderr and "run slow" in other.stderr
    finally:
        running.send_signal(signal.SIGINT)
        running.communicate(timeout=30)


@pytest.mark.slow
def test_a_killed_runner_is_shown_failed_once_its_lease_lapses(
        proc: ProcRun, tmp_path: Path, db_path: Database) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  lock_timeout: 2s\n")
    proc("stack", "create", "app")
    running, _ = start_slow(tmp_path, db_path, config)
    running.kill()
    running.communicate(timeout=30)
    assert json.loads(proc("stack", "show", "app", "--json").stdout)["status"] == "running"
    # The lease (2 s) is renewed every third of it while the runner lives; now nobody does.
    deadline = time.monotonic() + 10
    while json.loads(proc("stack", "show", "app", "--json").stdout)["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    shown = json.loads(proc("stack", "show", "app", "--json").stdout)
    assert (shown["status"], shown["lock_status"]) == ("failed", "EXPIRED")
    assert shown["last_run"]["reason"] == "runner vanished"
    taken = proc("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "next@one"})
    assert taken.returncode == 0, taken.stderr
    kinds = [e["type"] for e in json.loads(proc("events", "list", "--stack", "app",
                                                "--json").stdout)["events"]]
    assert kinds[-3:] == ["stack.execution.failed", "lock.expired", "lock.acquired"]


def test_someone_elses_lock_refuses_a_run_before_anything_is_recorded(
        cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app", "--locked-by", "deploy-bot",
        env={"SLOTH_RUNNER_ACTOR": "deploy-bot@ci"})
    before = event_count(db_path)
    result = cli("run", "--file", str(write(tmp_path, SPEC_WORKFLOW)), "--stack", "app")
    assert result.exit_code == 3
    assert "locked by deploy-bot" in result.stderr
    assert event_count(db_path) == before


def test_validate_stops_a_run_whose_upstream_failed(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "db")
    cli("stack", "create", "app", "--depends-on", "db")
    assert cli("run", "--file", str(write(tmp_path, FAILING)), "--stack", "db").exit_code == 1
    result = cli("run", "--file", str(write(tmp_path, SPEC_WORKFLOW, "ok.sloth")), "--stack",
                 "app", "--validate")
    assert result.exit_code == 1
    assert "dependencies did not fail" in result.stderr
    assert json.loads(cli("stack", "executions", "list", "app", "--json").stdout)["total"] == 0


def test_a_destroyed_stack_refuses_and_an_unknown_one_is_not_found(
        cli: CliRun, tmp_path: Path) -> None:
    workflow = str(write(tmp_path, SPEC_WORKFLOW))
    assert cli("run", "--file", workflow, "--stack", "ghost").exit_code == 4
    cli("stack", "create", "gone")
    cli("stack", "destroy", "gone", "--yes")
    assert cli("run", "--file", workflow, "--stack", "gone").exit_code == 5


def test_a_dry_run_prints_the_plan_and_records_nothing(cli: CliRun, tmp_path: Path,
                                                       db_path: Database) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    result = cli("run", "--file", str(write(tmp_path, FAILING)), "--stack", "app", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Take the stack's lock" in result.stdout and "Take a snapshot" in result.stdout
    assert "level 1: one, other" in result.stdout
    assert event_count(db_path) == before


MANY = """\
workflow.define("touch", { tasks = { task("mark"):command(function()
    if stack.name() == "db" then error("db is down") end
    state.set("ran", true)
    return true, stack.name()
end):build() } })
"""


def test_many_stacks_run_in_dependency_order_and_skip_dependants_of_a_failure(
        cli: CliRun, tmp_path: Path) -> None:
    for name, needs in (("net", []), ("db", ["net"]), ("cache", ["net"]), ("app", ["db"]),
                        ("web", ["cache"])):
        cli("stack", "create", name, *[arg for n in needs for arg in ("--depends-on", n)])
    result = cli("run", "--file", str(write(tmp_path, MANY)), "--all-stacks", "--json")
    assert result.exit_code == 1, result.stderr
    runs = {r["stack"]: r for r in json.loads(result.stdout)["runs"]}
    assert {name: r["status"] for name, r in runs.items()} == {
        "net": "completed", "db": "failed", "cache": "completed", "app": "skipped",
        "web": "completed"}
    assert runs["app"]["blocked_by"] == ["db"]
    levels = json.loads(result.stdout)["levels"]
    assert levels == [["net"], ["cache", "db"], ["app", "web"]]
    skipped = json.loads(cli("stack", "executions", "list", "app", "--json").stdout)
    assert skipped["executions"][0]["status"] == "skipped"


@pytest.mark.parametrize(("args", "text", "message"), [
    (["--stack", "app"], "this is not lua (", "deploy.sloth:1"),
    (["nope", "--stack", "app"], SPEC_WORKFLOW, "production_deploy"),
    (["--stack", "app"], SPEC_WORKFLOW + 'workflow.define("second", { tasks = { task("x")'
     ':command(function() return true end):build() } })', "defines 2 workflows"),
    (["--stack", "app"], 'workflow.define("w", { tasks = { task("a"):depends_on({"zz"})'
     ':command(function() return true end):build() } })', "unknown task 'zz'"),
    (["--stack", "app"], 'workflow.define("w", { tasks = { task("a"):timeout("soon")'
     ':command(function() return true end):build() } })', "invalid"),
    (["--stack", "app"], 'workflow.define("w", { tasks = { task("a"):command(function() '
     'return true end):build() }, config = { retry_forever = true } })', "unknown config key"),
    (["--stack", "app", "--set", "novalue"], SPEC_WORKFLOW, "novalue"),
    (["--file", "/no/such.sloth", "--stack", "app"], None, "not found"),
])
def test_bad_workflow_input_is_refused_with_one_line(cli: CliRun, tmp_path: Path,
                                                     db_path: Database, args: list[str],
                                                     text: str | None, message: str) -> None:
    cli("stack", "create", "app")
    if text is not None:
        args = ["--file", str(write(tmp_path, text)), *args]
    refused(cli, db_path, ["run", *args], 2, message)


def test_a_cycle_among_tasks_is_printed(cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    cli("stack", "create", "app")
    text = ('local a = task("a"):depends_on({"b"}):command(function() return true end):build()\n'
            'local b = task("b"):depends_on({"a"}):command(function() return true end):build()\n'
            'workflow.define("w", { tasks = { a, b } })')
    refused(cli, db_path, ["run", "--file", str(write(tmp_path, text)), "--stack", "app"], 2,
            "a -> b -> a")


def test_a_values_file_that_is_not_yaml(cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    cli("stack", "create", "app")
    values = tmp_path / "values.yaml"
    values.write_text("key: [unclosed\n")
    refused(cli, db_path, ["run", "--file", str(write(tmp_path, SPEC_WORKFLOW)), "--stack",
                           "app", "--values", str(values)], 2, "values.yaml")


DEPLOY = SPEC_WORKFLOW.replace('workflow.define("production_deploy")', 'workflow.define("deploy")')


def test_usage_examples_1_and_5_run_as_written(cli: CliRun, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.sloth").write_text(DEPLOY)
    cli("stack", "create", "production-stack")
    # Example 1: the lock taken by hand protects the run; the run uses it and leaves it held.
    assert cli("stack", "lock", "acquire", "production-stack", "--reason", "Deploying v2.0.0",
               "--locked-by", "deploy-bot").exit_code == 0
    assert cli("stack", "lock", "status", "production-stack").exit_code == 0
    ran = cli("run", "deploy", "--file", "deploy.sloth", "--stack", "production-stack")
    assert ran.exit_code == 0, ran.stderr
    assert "Lock: held by you (deploy-bot); the run uses it" in ran.stdout
    assert "LOCKED" in cli("stack", "lock", "status", "production-stack").stdout
    assert cli("stack", "lock", "release", "production-stack", "--unlocked-by",
               "deploy-bot").exit_code == 0
    # Example 5: validate one, validate all, run with validation.
    assert cli("stack", "validate", "production-stack").exit_code == 0
    assert cli("stack", "validate", "all").exit_code == 0
    validated = cli("run", "deploy", "--file", "deploy.sloth", "--stack", "production-stack",
                    "--validate")
    assert validated.exit_code == 0, validated.stderr
    listing = cli("stack", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("production-stack"))
    assert row.split()[1] == "completed" and row.split()[-1] == "2"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "stack-state"


@pytest.mark.parametrize(("name", "extra"), [
    ("basic-locking.sloth", ["--set", "version=v2.0.0"]),
    ("snapshot-restore.sloth", []),
    ("drift-detection.sloth", []),
    ("dependency-management.sloth", []),
])
def test_each_example_runs_through_the_command(cli: CliRun, tmp_path: Path, name: str,
                                               extra: list[str]) -> None:
    cli("stack", "create", "production-stack")
    result = cli("run", "--file", str(EXAMPLES / name), "--stack", "production-stack",
                 "--set", f"workdir={tmp_path / 'work'}", *extra, "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed"
    assert report["lock_id"]
    shown = json.loads(cli("stack", "show", "production-stack", "--json").stdout)
    assert shown["lock_status"] == "UNLOCKED" and shown["values"]


def test_hooks_hear_a_run_start_while_it_runs(cli: CliRun, tmp_path: Path) -> None:
    seen = tmp_path / "seen.jsonl"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat >> {seen}\necho >> {seen}\n")
    hook.chmod(0o755)
    cli("stack", "create", "app")
    added = cli("hooks", "add", "watch", "--on", "stack.execution.*", "--run", str(hook))
    assert added.exit_code == 0, added.stderr
    workflow = write(tmp_path, f"""
workflow.define("look", {{ tasks = {{ task("peek"):command(function()
    local seen = exec.run({{"cat", "{seen}"}})
    return seen.stdout:find("stack.execution.started", 1, true) ~= nil, "start was delivered"
end):build() }} }})
""")
    result = cli("run", "--file", str(workflow), "--stack", "app", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert '"stack.execution.completed"' in seen.read_text()
