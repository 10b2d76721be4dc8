"""`stack executions list|show` and the run columns of `stack list` / `stack show`."""

from __future__ import annotations

import json
from datetime import timedelta

from commands.models import CreateStack
from domain.executions import TaskRecord
from infrastructure.runtime import Runtime
from tests.conftest import CliRun, invocation


def record_runs(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="production-stack"), invocation())
    for number in range(10):
        run = f"{number:08d}-aaaa-bbbb-cccc-dddddddddddd"
        service.start_execution("production-stack", invocation(), execution_id=run,
                                workflow="production_deploy", version="2.0.0",
                                lease=timedelta(minutes=5), tasks=["deploy_app"])
        service.finish_execution(
            "production-stack", run, invocation(), succeeded=True, duration_ms=71,
            tasks=[TaskRecord(name="deploy_app", status="succeeded", duration_ms=70,
                              message="Deployment successful", attempts=1)])
    runtime.catch_up()


def test_stack_list_shows_the_runs(cli: CliRun, runtime: Runtime) -> None:
    record_runs(runtime)
    result = cli("stack", "list")
    assert result.exit_code == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("production")]
    assert row.split()[1] == "completed"
    assert row.split()[-2:] == ["71ms", "10"]


def test_executions_list_and_show(cli: CliRun, runtime: Runtime) -> None:
    record_runs(runtime)
    listing = cli("stack", "executions", "list", "production-stack", "--limit", "3")
    assert listing.exit_code == 0, listing.stderr
    assert "00000009" in listing.stdout and "00000006" not in listing.stdout
    assert "Total: 3 executions" in listing.stdout
    shown = cli("stack", "executions", "show", "00000009")
    assert shown.exit_code == 0, shown.stderr
    assert "production_deploy 2.0.0" in shown.stdout
    assert "deploy_app" in shown.stdout and "Deployment successful" in shown.stdout
    document = json.loads(cli("stack", "executions", "show", "00000009", "--json").stdout)
    assert (document["status"], document["tasks"][0]["attempts"]) == ("completed", 1)
    detail = json.loads(cli("stack", "show", "production-stack", "--json").stdout)
    assert detail["last_run"]["id"].startswith("00000009")


def test_unknown_short_and_ambiguous_ids(cli: CliRun, runtime: Runtime) -> None:
    record_runs(runtime)
    assert cli("stack", "executions", "show", "ffffffff").exit_code == 4
    assert cli("stack", "executions", "show", "000").exit_code == 2
    assert cli("stack", "executions", "show", "0000").exit_code == 2
    assert cli("stack", "executions", "list", "nope").exit_code == 4
