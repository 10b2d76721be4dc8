"""Dependency and validation rules of the Stack aggregate, without any I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.dependencies import CycleRefused, DependencyNotDeclared, SelfDependency
from domain.errors import InvalidInput, InvalidStackName, StackDestroyed
from domain.locks import StackLocked
from domain.stack import Stack
from domain.stack_memento import StackMemento, memento_of
from domain.validation import CheckResult, CheckStatus
from tests.conftest import invocation


def new_stack(name: str = "app") -> Stack:
    stack = Stack.create(name, "", invocation())
    stack.collect_events()
    return stack


def topics(stack: Stack) -> list[str]:
    return [type(e).TOPIC for e in stack.collect_events()]  # type: ignore[attr-defined]


def test_adding_records_one_event_per_new_dependency() -> None:
    stack = new_stack()
    assert stack.add_dependencies(["db", "cache", "db"], invocation(), paths_back={}) == [
        "db", "cache"]
    assert topics(stack) == ["stack.dependency.added", "stack.dependency.added"]
    assert stack.add_dependencies(["cache", "queue"], invocation(), paths_back={}) == ["queue"]
    assert stack.dependencies == ["db", "cache", "queue"]


@pytest.mark.parametrize(("names", "error"), [
    (["app"], SelfDependency),
    (["db", "has space"], InvalidStackName),
    (["db", ""], InvalidStackName),
])
def test_bad_dependencies_are_refused_whole(names: list[str], error: type[Exception]) -> None:
    stack = new_stack()
    with pytest.raises(error):
        stack.add_dependencies(names, invocation(), paths_back={})
    assert topics(stack) == []
    assert stack.dependencies == []
    assert issubclass(error, InvalidInput)


def test_a_dependency_that_closes_a_cycle_is_refused_with_the_cycle() -> None:
    stack = new_stack("app")
    with pytest.raises(CycleRefused) as refused:
        stack.add_dependencies(["cache", "db"], invocation(),
                               paths_back={"db": ["db", "net", "app"]})
    assert refused.value.cycle == ["app", "db", "net", "app"]
    assert str(refused.value).startswith("dependency cycle: app -> db -> net -> app")
    assert topics(stack) == []


def test_a_declared_dependency_is_not_checked_again() -> None:
    stack = new_stack("app")
    stack.add_dependencies(["db"], invocation(), paths_back={})
    stack.collect_events()
    assert stack.add_dependencies(["db"], invocation(), paths_back={"db": ["db", "app"]}) == []


def test_removing_needs_every_name_declared() -> None:
    stack = new_stack()
    stack.add_dependencies(["db", "cache"], invocation(), paths_back={})
    stack.collect_events()
    with pytest.raises(DependencyNotDeclared):
        stack.remove_dependencies(["db", "queue"], invocation())
    assert topics(stack) == []
    assert stack.remove_dependencies(["db"], invocation()) == ["db"]
    assert topics(stack) == ["stack.dependency.removed"]
    assert stack.dependencies == ["cache"]


def test_a_destroyed_or_foreign_locked_stack_refuses_dependency_changes() -> None:
    destroyed = new_stack()
    destroyed.destroy(invocation())
    with pytest.raises(StackDestroyed):
        destroyed.add_dependencies(["db"], invocation(), paths_back={})
    locked = new_stack()
    locked.acquire_lock(invocation(actor="deploy-bot"), ttl=timedelta(minutes=5))
    with pytest.raises(StackLocked):
        locked.add_dependencies(["db"], invocation(actor="mallory@m"), paths_back={})
    with pytest.raises(StackLocked):
        locked.remove_dependencies(["db"], invocation(actor="mallory@m"))


def test_dependencies_survive_destroy_and_are_dropped_on_re_create() -> None:
    stack = new_stack()
    stack.add_dependencies(["db"], invocation(), paths_back={})
    stack.destroy(invocation())
    assert stack.dependencies == ["db"]
    stack.recreate("", invocation())
    assert stack.dependencies == []
    stack.add_dependencies(["queue"], invocation(), paths_back={})
    assert stack.dependencies == ["queue"]


def test_library_snapshots_keep_dependencies_and_old_ones_still_load() -> None:
    stack = new_stack()
    stack.add_dependencies(["db", "cache"], invocation(), paths_back={})
    restored = Stack.Snapshot.take(stack).mutate(None)
    assert restored.dependencies == ["db", "cache"]
    restored.add_dependencies(["queue"], invocation(), paths_back={})
    assert stack.dependencies == ["db", "cache"]  # the copy does not share the list
    older = memento_of(stack).model_dump(mode="json")
    del older["dependencies"]  # what snapshots taken before dependencies existed hold
    assert StackMemento.model_validate(older).dependencies == []


def checks(*statuses: CheckStatus) -> list[CheckResult]:
    return [CheckResult(check=f"c{i}", status=s, reason="r") for i, s in enumerate(statuses)]


@pytest.mark.parametrize(("statuses", "topic"), [
    ((CheckStatus.PASS, CheckStatus.PASS), "validation.passed"),
    ((CheckStatus.PASS, CheckStatus.WARN), "validation.passed"),
    ((CheckStatus.WARN, CheckStatus.FAIL), "validation.failed"),
])
def test_a_validation_is_recorded_with_its_outcome(statuses: tuple[CheckStatus, ...],
                                                   topic: str) -> None:
    stack = new_stack()
    assert stack.record_validation(checks(*statuses), invocation()) == (
        topic == "validation.passed")
    (event,) = stack.collect_events()
    assert topic == type(event).TOPIC  # type: ignore[attr-defined]
    assert [c.status for c in event.checks] == list(statuses)  # type: ignore[attr-defined]


def test_validating_is_recorded_on_locked_and_destroyed_stacks_and_changes_nothing() -> None:
    stack = new_stack()
    stack.acquire_lock(invocation(actor="deploy-bot"), ttl=timedelta(minutes=5))
    before = memento_of(stack).model_copy(update={"modified_on": None})
    stack.record_validation(checks(CheckStatus.WARN), invocation(actor="mallory@m"))
    assert memento_of(stack).model_copy(update={"modified_on": None}) == before
    stack.destroy(invocation(actor="deploy-bot"), force=True)
    stack.record_validation(checks(CheckStatus.FAIL), invocation())
    assert topics(stack)[-1] == "validation.failed"
    with pytest.raises(InvalidInput):
        stack.record_validation([], invocation())
