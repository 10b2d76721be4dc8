"""Executions in the read models: stack list's columns, statuses, and a runner that vanished."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time

from commands.models import AcquireLock, CreateStack, SetValues
from domain.executions import TaskRecord
from infrastructure.runtime import Runtime
from projections.queries.executions import find_executions, list_executions
from projections.queries.stacks import find_stack, list_stacks
from tests.conftest import Database, invocation, read_model_dump


def test_runs_fill_the_stack_list_columns(runtime: Runtime, db_path: Database) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    for number, succeeded in enumerate([True, True, False]):
        run = f"run-{number}"
        service.start_execution("app", invocation(), execution_id=run, workflow="deploy",
                                lease=timedelta(minutes=5), tasks=["a"])
        service.finish_execution("app", run, invocation(), succeeded=succeeded,
                                 duration_ms=70 + number,
                                 tasks=[TaskRecord(name="a", status="succeeded" if succeeded
                                                   else "failed", duration_ms=60)])
    connection = runtime.reader()
    (summary,) = list_stacks(connection, include_destroyed=False)
    assert (summary.status, summary.execution_count, summary.last_duration_ms) == ("failed", 3, 72)
    assert summary.last_execution is not None
    runs = list_executions(connection, summary.id)
    assert [r.id for r in runs] == ["run-2", "run-1", "run-0"]
    assert runs[0].tasks[0]["status"] == "failed" and runs[1].status == "completed"
    incremental = read_model_dump(db_path)
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental


def test_a_run_whose_lease_lapses_is_shown_failed_then_recorded(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    with freeze_time("2030-05-01 12:00:00"):
        acquired = service.acquire_lock(AcquireLock(stack="app", ttl=timedelta(minutes=1)),
                                        invocation("runner@ci"))
        lock_id = acquired.detail["lock"].lock_id
        service.start_execution("app", invocation("runner@ci", lock_id), execution_id="e1",
                                workflow="deploy", lease=timedelta(hours=1))
        connection = runtime.reader()
        assert find_stack(connection, "app").status == "running"  # type: ignore[union-attr]
    with freeze_time("2030-05-01 12:01:00"):
        connection = runtime.reader()
        assert find_stack(connection, "app").status == "failed"  # type: ignore[union-attr]
        (run,) = find_executions(connection, "e1")
        assert (run.status, run.reason) == ("failed", "runner vanished")
        service.set_values(SetValues(stack="app", values={"k": 1}), invocation("someone@else"))
        runtime.catch_up()
        (run,) = find_executions(runtime.reader(), "e1")
        assert (run.status, run.reason, run.finished_at is not None) == (
            "failed", "runner vanished", True)
