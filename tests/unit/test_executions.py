"""Runs of a workflow as a stack records them: start, lease, end, and a runner that vanished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import StackDestroyed
from domain.executions import RUNNER_VANISHED, ExecutionNotRunning, TaskRecord
from domain.locks import StackLocked
from domain.stack import Stack, StackStatus
from domain.stack_memento import StackSnapshot
from tests.conftest import invocation

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float, actor: str = "runner@ci", lock_id: str | None = None):  # type: ignore[no-untyped-def]
    return invocation(actor, lock_id).model_copy(update={"at": T0 + timedelta(seconds=seconds)})


def fresh() -> Stack:
    return Stack.create("app", "", at(0))


def test_a_run_is_running_until_it_completes() -> None:
    stack = fresh()
    run = stack.start_execution(at(1), execution_id="e1", workflow="deploy",
                                lease=timedelta(minutes=5), tasks=["a", "b"])
    assert stack.status is StackStatus.RUNNING
    assert run.lock_id is None and run.alive_until == T0 + timedelta(seconds=301)
    stack.finish_execution(at(2), "e1", succeeded=True, duration_ms=1000,
                           tasks=[TaskRecord(name="a", status="succeeded")])
    assert stack.status is StackStatus.COMPLETED and stack.running == {}
    with pytest.raises(ExecutionNotRunning):
        stack.finish_execution(at(3), "e1", succeeded=True, duration_ms=1)


def test_a_failed_run_leaves_the_stack_failed() -> None:
    stack = fresh()
    stack.start_execution(at(1), execution_id="e1", workflow="deploy", lease=timedelta(minutes=5))
    stack.finish_execution(at(2), "e1", succeeded=False, duration_ms=5, reason="interrupted")
    assert stack.status is StackStatus.FAILED
    event = stack.collect_events()[-1]
    assert (type(event).TOPIC, event.reason) == ("stack.execution.failed", "interrupted")  # type: ignore[attr-defined]


def test_a_run_under_the_lock_lives_as_long_as_the_lock() -> None:
    stack = fresh()
    lock = stack.acquire_lock(at(0), ttl=timedelta(minutes=1), operation="run deploy")
    run = stack.start_execution(at(1, lock_id=lock.lock_id), execution_id="e1",
                                workflow="deploy", lease=timedelta(hours=1))
    assert (run.lock_id, run.alive_until) == (lock.lock_id, lock.expires_at)
    stack.renew_lock(at(30, lock_id=lock.lock_id), ttl=timedelta(minutes=1))
    assert stack.running["e1"].alive_until == T0 + timedelta(seconds=90)


def test_someone_elses_lock_refuses_a_run_and_a_destroyed_stack_too() -> None:
    stack = fresh()
    stack.acquire_lock(at(0, actor="deploy-bot"), ttl=timedelta(minutes=5))
    with pytest.raises(StackLocked):
        stack.start_execution(at(1), execution_id="e1", workflow="w", lease=timedelta(minutes=5))
    other = fresh()
    other.destroy(at(1))
    with pytest.raises(StackDestroyed):
        other.start_execution(at(2), execution_id="e1", workflow="w", lease=timedelta(minutes=5))


def test_a_lapsed_lease_is_recorded_as_vanished_by_the_next_change() -> None:
    stack = fresh()
    lock = stack.acquire_lock(at(0), ttl=timedelta(minutes=1))
    stack.start_execution(at(1, lock_id=lock.lock_id), execution_id="e1", workflow="deploy",
                          lease=timedelta(hours=1))
    assert stack.vanished_executions(T0 + timedelta(seconds=59)) == []
    assert [r.execution_id for r in stack.vanished_executions(T0 + timedelta(seconds=60))] == [
        "e1"]
    stack.collect_events()
    stack.acquire_lock(at(120, actor="someone@else"), ttl=timedelta(minutes=5))
    recorded = [type(e).TOPIC for e in stack.collect_events()]
    assert recorded == ["stack.execution.failed", "lock.expired", "lock.acquired"]
    assert stack.status is StackStatus.FAILED and stack.running == {}


def test_a_force_released_lock_ends_the_lease_of_its_run() -> None:
    stack = fresh()
    lock = stack.acquire_lock(at(0), ttl=timedelta(minutes=10))
    stack.start_execution(at(1, lock_id=lock.lock_id), execution_id="e1", workflow="deploy",
                          lease=timedelta(hours=1))
    stack.force_release_lock(at(5, actor="admin@x"), reason="stuck")
    stack.collect_events()
    stack.set_values({"k": 1}, at(6, actor="admin@x"))
    events = stack.collect_events()
    assert [type(e).TOPIC for e in events] == ["stack.execution.failed", "state.set"]
    assert events[0].reason == RUNNER_VANISHED  # type: ignore[attr-defined]


def test_runs_survive_a_library_snapshot() -> None:
    stack = fresh()
    stack.start_execution(at(1), execution_id="e1", workflow="deploy", lease=timedelta(minutes=5))
    restored = StackSnapshot.take(stack).mutate(None)
    assert restored.running == stack.running and restored.status is StackStatus.RUNNING
