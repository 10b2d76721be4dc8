"""The Stack aggregate's rules, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import (
    InvalidInput,
    InvalidStackName,
    KeyNotFound,
    StackAlreadyExists,
    StackDestroyed,
)
from domain.names import stack_id
from domain.stack import Stack, StackStatus
from domain.stack_memento import memento_of
from tests.conftest import invocation


def new_stack(name: str = "app") -> Stack:
    stack = Stack.create(name, "an app", invocation())
    stack.collect_events()
    return stack


def test_create_records_who_from_where_and_which_call() -> None:
    inv = invocation(actor="alice@laptop")
    stack = Stack.create("app", "the app", inv)
    (created,) = stack.collect_events()
    assert type(created).TOPIC == "stack.created"
    assert (created.actor, created.source.value, created.correlation_id) == (
        "alice@laptop", "cli", inv.correlation_id)
    assert stack.id == stack_id("app")
    assert stack.status is StackStatus.CREATED


@pytest.mark.parametrize("name", ["", "x" * 256, "has space", "../x", "a\x01b", "-lead", ".dot"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidStackName):
        Stack.create(name, "", invocation())


def test_a_255_character_name_is_fine() -> None:
    assert Stack.create("a" * 255, "", invocation()).name == "a" * 255


def test_setting_an_unchanged_value_records_nothing() -> None:
    stack = new_stack()
    assert stack.set_values({"a": 1, "b": "x"}, invocation()) == ["a", "b"]
    stack.collect_events()
    assert stack.set_values({"a": 1, "b": "y"}, invocation()) == ["b"]
    assert [e.key for e in stack.collect_events()] == ["b"]


def test_values_of_different_json_types_are_different() -> None:
    stack = new_stack()
    stack.set_values({"a": 1}, invocation())
    assert stack.set_values({"a": "1"}, invocation()) == ["a"]
    assert stack.set_values({"a": True}, invocation()) == ["a"]
    assert stack.set_values({"a": 1.0}, invocation()) == ["a"]


def test_unsetting_a_missing_key_changes_nothing() -> None:
    stack = new_stack()
    stack.set_values({"a": 1}, invocation())
    stack.collect_events()
    with pytest.raises(KeyNotFound):
        stack.unset_values(["a", "missing"], invocation())
    assert stack.collect_events() == []
    assert stack.values == {"a": 1}


def test_a_destroyed_stack_refuses_changes() -> None:
    stack = new_stack()
    stack.destroy(invocation(), "done")
    for change in (
        lambda: stack.set_values({"a": 1}, invocation()),
        lambda: stack.set_outputs({"a": 1}, invocation()),
        lambda: stack.destroy(invocation()),
        lambda: stack.update(invocation(), description="x"),
    ):
        with pytest.raises(StackDestroyed):
            change()


def test_recreating_a_destroyed_stack_starts_fresh_on_the_same_stream() -> None:
    stack = new_stack()
    stack.set_values({"a": 1}, invocation())
    stack.set_outputs({"o": 2}, invocation())
    stack.destroy(invocation())
    stack.recreate("second life", invocation())
    assert (stack.values, stack.outputs, stack.description) == ({}, {}, "second life")
    assert stack.incarnation == 2
    assert stack.version == 5
    assert [type(e).TOPIC for e in stack.collect_events()][-1] == "stack.created"


def test_recreating_a_live_stack_is_a_conflict() -> None:
    with pytest.raises(StackAlreadyExists):
        new_stack().recreate("", invocation())


def test_timestamps_in_a_stream_never_go_backwards() -> None:
    stack = new_stack()
    later = invocation().model_copy(update={"at": datetime.now(UTC) + timedelta(hours=1)})
    stack.set_values({"a": 1}, later)
    stack.set_values({"a": 2}, invocation())
    first, second = stack.collect_events()
    assert second.timestamp >= first.timestamp


def test_description_rules() -> None:
    with pytest.raises(InvalidInput):
        Stack.create("app", "x" * 5000, invocation())
    with pytest.raises(InvalidInput):
        Stack.create("app", "bell\x07", invocation())


def test_library_snapshot_round_trips_the_whole_state() -> None:
    stack = new_stack()
    stack.set_values({"a": [1, {"b": None}]}, invocation())
    stack.set_outputs({"url": "http://x"}, invocation())
    restored = Stack.Snapshot.take(stack).mutate(None)
    assert memento_of(restored) == memento_of(stack)
    assert (restored.id, restored.version) == (stack.id, stack.version)
