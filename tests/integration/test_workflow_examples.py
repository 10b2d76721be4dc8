"""The example workflows in examples/stack-state load, plan and run on any machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commands.workflow_engine import WorkflowEngine
from domain.workflow import RunResult, RunStatus, TaskStatus
from infrastructure.lua.host import MemoryHost
from infrastructure.lua.loader import load_workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "stack-state"


def _run(name: str, host: MemoryHost, **values: Any) -> RunResult:
    loaded = load_workflow(EXAMPLES / name, values=values)
    engine = WorkflowEngine(loaded.spec, loaded.runner(host), default_parallel=4,
                            on_complete=loaded.completion(host), sleep=lambda seconds: None)
    return engine.run()


@pytest.mark.parametrize(("name", "workflow", "levels"), [
    ("basic-locking.sloth", "release", [["preflight"], ["deploy_app"], ["verify"]]),
    ("snapshot-restore.sloth", "config_change",
     [["backup_current"], ["apply_config"], ["health_check"]]),
    ("drift-detection.sloth", "drift_check", [["record_desired"], ["check_drift"], ["fix_drift"]]),
    ("dependency-management.sloth", "platform",
     [["network", "storage"], ["database", "cache"], ["app"], ["smoke_test"]]),
])
def test_each_example_loads_and_has_a_plan(name: str, workflow: str, levels: list[list[str]]) -> None:
    loaded = load_workflow(EXAMPLES / name)
    plan = loaded.plan(default_parallel=10)
    assert (plan.workflow, plan.levels) == (workflow, levels)
    assert plan.require_lock
    assert all(task.description for task in plan.tasks)


def test_the_examples_cover_the_stack_features() -> None:
    configs = {name: load_workflow(EXAMPLES / name).spec.config
               for name in ("snapshot-restore.sloth", "dependency-management.sloth")}
    snapshot = configs["snapshot-restore.sloth"]
    assert snapshot.create_snapshot and snapshot.rollback_on_failure
    assert configs["dependency-management.sloth"].max_parallel_tasks == 2


def test_basic_locking_deploys_and_publishes_the_version(tmp_path: Path) -> None:
    host = MemoryHost()
    result = _run("basic-locking.sloth", host, workdir=str(tmp_path), version="v3.1.0")
    assert result.status is RunStatus.SUCCEEDED, result.tasks
    assert (tmp_path / "release.txt").read_text() == "v3.1.0\n"
    assert host.values["deployment_version"] == "v3.1.0"
    assert host.outputs == {"running_version": "v3.1.0"}
    again = _run("basic-locking.sloth", host, workdir=str(tmp_path), version="v3.2.0")
    assert again.task("deploy_app").outputs == {"version": "v3.2.0", "previous": "v3.1.0"}


def test_snapshot_restore_changes_the_config_or_puts_it_back(tmp_path: Path) -> None:
    host = MemoryHost()
    config = tmp_path / "app-config.json"
    assert _run("snapshot-restore.sloth", host, workdir=str(tmp_path), replicas=5).succeeded
    assert '"replicas": 5' in config.read_text()
    before = config.read_text()
    failed = _run("snapshot-restore.sloth", host, workdir=str(tmp_path), replicas=9,
                  fail_health_check=True)
    assert failed.status is RunStatus.FAILED
    health = failed.task("health_check")
    assert (health.status, health.attempts) == (TaskStatus.FAILED, 3)
    assert config.read_text() == before
    assert host.values["config"] == {"replicas": 5, "image": "web:2.0"}
    assert [line.message for line in health.logs if line.level.value == "warn"] == [
        "restored the previous configuration after: health check failed "
        "(fail_health_check is set)"]


def test_drift_detection_finds_and_repairs_changed_files(tmp_path: Path) -> None:
    host = MemoryHost()
    first = _run("drift-detection.sloth", host, workdir=str(tmp_path))
    assert first.task("check_drift").message == "2 of 2 files drifted"
    assert (tmp_path / "app.conf").read_text() == "port=8080\nworkers=4\n"
    (tmp_path / "motd").write_text("hacked\n")
    report_only = _run("drift-detection.sloth", host, workdir=str(tmp_path), fix=False)
    assert report_only.task("check_drift").message == "1 of 2 files drifted"
    assert report_only.task("fix_drift").message == "not fixing 1 drifted files (fix is false)"
    assert host.values["drift.count"] == 1
    repaired = _run("drift-detection.sloth", host, workdir=str(tmp_path))
    assert repaired.task("fix_drift").message == "1 files repaired"
    assert (tmp_path / "motd").read_text() == "Welcome to production\n"
    assert host.values["drift.count"] == 0


def test_dependency_management_provisions_in_order_with_a_retry(tmp_path: Path) -> None:
    host = MemoryHost(name="staging")
    workdir = tmp_path / "platform"
    result = _run("dependency-management.sloth", host, workdir=str(workdir))
    assert result.succeeded, result.tasks
    assert result.task("database").attempts == 2
    assert sorted(path.name for path in workdir.iterdir()) == [
        "app.json", "cache.json", "database.json", "network.json", "storage.json"]
    assert host.values["components.app"] == {"database": "postgres://db.staging:5432/app",
                                             "cache": "redis://cache.staging:6379"}
    assert host.values["platform.last_run"] == {"success": True, "status": "succeeded"}
    assert host.outputs == {"endpoint": "https://app.staging.example"}
    app = result.task("app")
    for dependency in ("database", "cache"):
        assert (app.started_at or 0) >= (result.task(dependency).finished_at or 1)
