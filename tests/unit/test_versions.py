"""Snapshot rules: numbering, deletion, restore, prune, and state differences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.invocation import Invocation
from domain.locks import StackLocked
from domain.stack import Stack, StackStatus
from domain.versions import (
    SnapshotDeleted,
    SnapshotNotFound,
    StackState,
    diff_states,
    parse_version,
)
from tests.conftest import invocation

T0 = datetime(2025, 10, 10, 9, 0, tzinfo=UTC)


def at(days: float, actor: str = "alice@a") -> Invocation:
    return invocation(actor=actor).model_copy(update={"at": T0 + timedelta(days=days)})


@pytest.mark.parametrize(("text", "version"), [("v5", 5), ("5", 5), ("V12", 12), ("v0", 0)])
def test_versions_parse(text: str, version: int) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize("text", ["vx", "-1", "v-1", "1.5", "", "v", "5v"])
def test_bad_versions_are_usage_errors(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_version(text)


def test_versions_count_up_and_are_never_reused() -> None:
    stack = Stack.create("app", "", at(0))
    assert [stack.create_snapshot(at(0)).version for _ in range(3)] == [1, 2, 3]
    stack.delete_snapshot(at(0), 3)
    assert stack.create_snapshot(at(0)).version == 4
    stack.destroy(at(0))
    stack.recreate("", at(0))
    assert stack.create_snapshot(at(0)).version == 5


def test_a_snapshot_names_its_position_and_who_took_it() -> None:
    stack = Stack.create("app", "", at(0))
    stack.set_values({"a": 1}, at(0))
    mark = stack.create_snapshot(at(1), creator="admin", description="before upgrade")
    assert (mark.position, mark.creator, mark.description) == (3, "admin", "before upgrade")
    assert mark.created_at == T0 + timedelta(days=1)


def test_deleted_and_unknown_versions_are_refused() -> None:
    stack = Stack.create("app", "", at(0))
    stack.create_snapshot(at(0))
    stack.delete_snapshot(at(1, "bob@b"), 1)
    with pytest.raises(SnapshotDeleted, match="deleted at 2025-10-11 09:00:00 UTC by bob@b"):
        stack.version_mark(1)
    with pytest.raises(SnapshotDeleted):
        stack.delete_snapshot(at(2), 1)
    with pytest.raises(SnapshotNotFound):
        stack.version_mark(0)
    with pytest.raises(SnapshotNotFound):
        stack.restore_snapshot(at(2), 7, StackState())


def test_restore_takes_a_backup_first_and_carries_the_state() -> None:
    stack = Stack.create("app", "", at(0))
    stack.create_snapshot(at(0))
    stack.set_values({"a": 1}, at(0))
    stack.collect_events()
    target = StackState(description="old", values={"x": [1]}, outputs={"o": "v"})
    backup = stack.restore_snapshot(at(1), 1, target)
    backup_event, restored = stack.collect_events()
    assert (type(backup_event).TOPIC, type(restored).TOPIC) == ("snapshot.created",
                                                                "snapshot.restored")
    assert backup.creator == "system"
    assert backup.description == "Automatic backup before restoring v1"
    assert restored.state == target
    assert stack.user_state() == target


def test_restoring_a_destroyed_stack_brings_it_back() -> None:
    stack = Stack.create("app", "", at(0))
    stack.set_values({"a": 1}, at(0))
    stack.create_snapshot(at(0))
    stack.destroy(at(1))
    stack.restore_snapshot(at(2), 1, StackState(values={"a": 1}))
    assert stack.status is StackStatus.CREATED
    assert stack.values == {"a": 1}
    stack.set_values({"b": 2}, at(3))  # alive again


def test_restore_and_snapshots_respect_locks() -> None:
    stack = Stack.create("app", "", at(0))
    stack.create_snapshot(at(0))
    stack.acquire_lock(at(0), ttl=timedelta(days=5))
    with pytest.raises(StackLocked):
        stack.restore_snapshot(at(1, "bob@b"), 1, StackState())
    with pytest.raises(StackLocked):
        stack.create_snapshot(at(1, "bob@b"))
    with pytest.raises(StackLocked):
        stack.delete_snapshot(at(1, "bob@b"), 1)
    stack.restore_snapshot(at(1), 1, StackState())


def test_destroy_can_take_a_snapshot_first() -> None:
    stack = Stack.create("app", "", at(0))
    stack.collect_events()
    stack.destroy(at(1), snapshot_first=True)
    assert [type(e).TOPIC for e in stack.collect_events()] == ["snapshot.created",
                                                             "stack.destroyed"]
    assert stack.versions[1].creator == "system"


def test_prune_keeps_the_newest_and_the_young() -> None:
    stack = Stack.create("app", "", at(0))
    for day in range(5):
        stack.create_snapshot(at(day))
    stack.delete_snapshot(at(5), 2)
    # Created on days 0..4 (v2 deleted); at day 10, "older than 7 days" means day 3 or before.
    assert stack.prunable_versions(at(10).at, timedelta(days=7), keep=1) == [1, 3, 4]
    assert stack.prunable_versions(at(10).at, timedelta(days=7), keep=2) == [1, 3]
    assert stack.prunable_versions(at(10).at, timedelta(days=8), keep=0) == [1, 3]
    assert stack.prunable_versions(at(10).at, timedelta(days=30), keep=0) == []


def test_diff_reports_added_removed_changed_and_tells_json_types_apart() -> None:
    before = StackState(description="a", status="created",
                        values={"keep": 1, "gone": "x", "same": {"n": [1]}, "num": 1},
                        outputs={"url": "http://a"})
    after = StackState(description="b", status="completed",
                       values={"keep": 1, "new": True, "same": {"n": [1]}, "num": 1.0},
                       outputs={"url": "http://b"})
    diff = diff_states(before, after)
    assert diff.description is not None and diff.status is not None
    assert [c.key for c in diff.values.added] == ["new"]
    assert [c.key for c in diff.values.removed] == ["gone"]
    assert [(c.key, c.before, c.after) for c in diff.values.changed] == [("num", 1, 1.0)]
    assert [c.key for c in diff.outputs.changed] == ["url"]
    assert diff_states(after, after).is_empty


def test_versions_survive_a_library_snapshot() -> None:
    stack = Stack.create("app", "", at(0))
    stack.create_snapshot(at(0), description="one")
    stack.delete_snapshot(at(1), 1)
    restored = Stack.Snapshot.take(stack).mutate(None)
    assert restored.versions == stack.versions
    assert restored.last_version == 1


def test_prune_is_a_mutation_even_when_nothing_is_old_enough() -> None:
    stack = Stack.create("app", "", at(0))
    stack.create_snapshot(at(0))
    stack.acquire_lock(at(0), ttl=timedelta(days=5))
    with pytest.raises(StackLocked):
        stack.prune_snapshots(at(1, "bob@b"), timedelta(days=30), keep=0)
    assert stack.prune_snapshots(at(1), timedelta(hours=1), keep=0) == [1]
