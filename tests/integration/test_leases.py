"""Holding a stack's lock for a long operation: renewed in the background, always released."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from commands.models import AcquireLock, CreateStack, ForceReleaseLock, SetValues
from domain.errors import LockConflict
from domain.locks import StackLocked
from infrastructure.runtime import Runtime
from tests.conftest import invocation


def lock_events(runtime: Runtime) -> list[str]:
    return [type(e).TOPIC for e in runtime.store().events.get(runtime.service().load("app").id)
            if type(e).TOPIC.startswith("lock.")]


def until(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_held_lease_is_renewed_and_released(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    command = AcquireLock(stack="app", ttl=timedelta(minutes=5), operation="long job")
    with service.hold_lock(command, invocation(), renew_every=0.01) as lease:
        until(lambda: lock_events(runtime).count("lock.renewed") >= 2)
        service.set_values(SetValues(stack="app", values={"k": 1}), lease.invocation)
        with pytest.raises(StackLocked):
            service.set_values(SetValues(stack="app", values={"k": 2}), invocation("other@x"))
    assert service.load("app").lock is None
    assert lock_events(runtime)[-1] == "lock.released"


def test_the_lease_is_released_when_the_operation_fails(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    with pytest.raises(RuntimeError), service.hold_lock(
            AcquireLock(stack="app", ttl=timedelta(minutes=5)), invocation()):
        raise RuntimeError("the operation broke")
    assert service.load("app").lock is None


def test_a_lease_taken_away_is_reported_lost_and_not_released_again(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    with service.hold_lock(AcquireLock(stack="app", ttl=timedelta(minutes=5)), invocation(),
                           renew_every=0.01) as lease:
        service.force_release_lock(ForceReleaseLock(stack="app", reason="stuck"),
                                   invocation("admin@x"))
        until(lambda: lease.lost is not None)
        assert isinstance(lease.lost, LockConflict)
    assert lock_events(runtime)[-1] == "lock.force_released"
