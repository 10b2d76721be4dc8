"""Lock rules of the Stack aggregate: holders, leases, takeover, force-release, enforcement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput, StackDestroyed
from domain.invocation import Invocation
from domain.locks import NotLocked, NotLockHolder, StackLocked
from domain.stack import Stack
from tests.conftest import invocation

T0 = datetime(2025, 10, 10, 14, 0, tzinfo=UTC)


def at(minutes: float, actor: str = "alice@a", lock_id: str | None = None) -> Invocation:
    return invocation(actor=actor, lock_id=lock_id).model_copy(
        update={"at": T0 + timedelta(minutes=minutes)})


def locked_stack(**options: object) -> Stack:
    stack = Stack.create("app", "", at(0))
    stack.acquire_lock(at(0), ttl=timedelta(minutes=30), **options)  # type: ignore[arg-type]
    stack.collect_events()
    return stack


def topics(stack: Stack) -> list[str]:
    return [type(e).TOPIC for e in stack.collect_events()]  # type: ignore[attr-defined]


def test_acquire_records_the_lease() -> None:
    stack = Stack.create("app", "", at(0))
    lock = stack.acquire_lock(at(1), ttl=timedelta(minutes=30), locked_by="deploy-bot",
                              operation="deploy", reason="v2", metadata={"ticket": "OPS-1"})
    assert (lock.locked_by, lock.acquired_by_actor, lock.generation) == ("deploy-bot", "alice@a", 1)
    assert lock.expires_at == T0 + timedelta(minutes=31)
    assert topics(stack)[-1] == "lock.acquired"


def test_a_held_lock_cannot_be_acquired_again_even_by_its_holder() -> None:
    stack = locked_stack()
    for actor in ("bob@b", "alice@a"):
        with pytest.raises(StackLocked):
            stack.acquire_lock(at(5, actor), ttl=timedelta(minutes=5))
    assert topics(stack) == []


@pytest.mark.parametrize(("actor", "claimed", "present_id"), [
    ("bob@b", None, True),            # presents the lock id
    ("deploy-bot", None, False),      # is the lock's locked_by
    ("alice@a", None, False),         # is the actor that acquired it
    ("bob@b", "deploy-bot", False),   # claims to be locked_by (--unlocked-by)
])
def test_holders_may_release(actor: str, claimed: str | None, present_id: bool) -> None:
    stack = locked_stack(locked_by="deploy-bot")
    lock_id = stack.lock.lock_id if present_id else None  # type: ignore[union-attr]
    stack.release_lock(at(5, actor, lock_id), unlocked_by=claimed)
    assert stack.lock is None
    assert topics(stack) == ["lock.released"]


def test_others_may_not_release() -> None:
    stack = locked_stack(locked_by="deploy-bot")
    with pytest.raises(NotLockHolder) as refused:
        stack.release_lock(at(5, "mallory@m"))
    assert refused.value.lock.locked_by == "deploy-bot"
    assert topics(stack) == []


def test_a_forged_lock_id_is_refused_even_for_the_acquiring_actor() -> None:
    stack = locked_stack()
    with pytest.raises(NotLockHolder, match="does not match"):
        stack.release_lock(at(5, "alice@a", "00000000-forged"))
    with pytest.raises(StackLocked):
        stack.set_values({"a": 1}, at(5, "alice@a", "00000000-forged"))


def test_releasing_an_unlocked_stack_is_refused() -> None:
    stack = Stack.create("app", "", at(0))
    with pytest.raises(NotLocked, match="not locked"):
        stack.release_lock(at(1))


def test_an_expired_lease_no_longer_protects_and_is_taken_over_on_record() -> None:
    stack = locked_stack()
    assert stack.held_lock(at(29).at) is not None
    assert stack.held_lock(at(30).at) is None
    stack.set_values({"a": 1}, at(31, "bob@b"))  # not refused: the lease ran out
    lock = stack.acquire_lock(at(32, "bob@b"), ttl=timedelta(minutes=5))
    assert topics(stack) == ["state.set", "lock.expired", "lock.acquired"]
    assert (lock.acquired_by_actor, lock.generation) == ("bob@b", 2)


def test_releasing_an_expired_lock_says_when_it_expired() -> None:
    stack = locked_stack()
    with pytest.raises(NotLocked, match="expired at 2025-10-10 14:30:00"):
        stack.release_lock(at(45))


def test_renew_extends_the_lease_for_the_holder_only() -> None:
    stack = locked_stack()
    with pytest.raises(NotLockHolder):
        stack.renew_lock(at(10, "bob@b"), ttl=timedelta(hours=1))
    lock = stack.renew_lock(at(10), ttl=timedelta(hours=1))
    assert lock.expires_at == T0 + timedelta(minutes=70)
    assert lock.generation == 1
    with pytest.raises(NotLocked):
        stack.renew_lock(at(71), ttl=timedelta(hours=1))


def test_force_release_records_who_and_why() -> None:
    stack = locked_stack(locked_by="deploy-bot")
    removed = stack.force_release_lock(at(5, "oncall@ops"), reason="deploy bot crashed")
    (event,) = stack.collect_events()
    assert type(event).TOPIC == "lock.force_released"
    assert (event.actor, event.holder, event.reason, event.lock_id) == (
        "oncall@ops", "deploy-bot", "deploy bot crashed", removed.lock_id)
    with pytest.raises(NotLocked):
        stack.force_release_lock(at(6, "oncall@ops"))


def test_force_release_can_insist_on_a_lock_id() -> None:
    stack = locked_stack()
    with pytest.raises(NotLockHolder):
        stack.force_release_lock(at(5, "oncall@ops"), lock_id="someone-else")
    assert stack.lock is not None


def test_every_change_by_someone_else_is_refused_while_locked() -> None:
    stack = locked_stack()
    stack.set_values({"a": 1}, at(1))
    stack.set_outputs({"o": 1}, at(1))
    stack.collect_events()
    other = at(2, "bob@b")
    for change in (
        lambda: stack.set_values({"a": 2}, other),
        lambda: stack.unset_values(["a"], other),
        lambda: stack.set_outputs({"o": 2}, other),
        lambda: stack.unset_outputs(["o"], other),
        lambda: stack.update(other, description="x"),
        lambda: stack.destroy(other, force=True),
    ):
        with pytest.raises(StackLocked):
            change()
    assert topics(stack) == []
    lock_id = stack.lock.lock_id  # type: ignore[union-attr]
    assert stack.set_values({"a": 3}, at(3, "bob@b", lock_id)) == ["a"]


def test_destroy_needs_force_even_for_the_holder_and_releases_the_lock_first() -> None:
    stack = locked_stack()
    with pytest.raises(StackLocked, match="destroyed only when forced"):
        stack.destroy(at(1))
    stack.destroy(at(1), force=True)
    assert topics(stack) == ["lock.released", "stack.destroyed"]
    assert stack.lock is None


def test_bad_lease_and_destroyed_stacks() -> None:
    stack = Stack.create("app", "", at(0))
    with pytest.raises(InvalidInput):
        stack.acquire_lock(at(1), ttl=timedelta(0))
    with pytest.raises(InvalidInput):
        stack.acquire_lock(at(1), ttl=timedelta(minutes=1), metadata={"k": "bad\x00"})
    stack.destroy(at(2))
    with pytest.raises(StackDestroyed):
        stack.acquire_lock(at(3), ttl=timedelta(minutes=1))


def test_generation_keeps_counting_across_incarnations() -> None:
    stack = locked_stack()
    stack.release_lock(at(1))
    stack.destroy(at(2))
    stack.recreate("", at(3))
    assert stack.acquire_lock(at(4), ttl=timedelta(minutes=1)).generation == 2


def test_the_lock_survives_a_library_snapshot() -> None:
    stack = locked_stack(metadata={"k": "v"})
    restored = Stack.Snapshot.take(stack).mutate(None)
    assert restored.lock == stack.lock
    assert restored.lock_generation == 1
