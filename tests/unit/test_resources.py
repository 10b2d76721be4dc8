"""Resource declarations in the Stack aggregate: rules, plans, events, without any I/O."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from domain.drift import (
    AttributeDrift,
    DriftReport,
    DriftStatus,
    FixMode,
    ResourceDrift,
    fix_outcome,
)
from domain.errors import InvalidInput, StackDestroyed
from domain.locks import StackLocked
from domain.resources import (
    Resource,
    ResourceInUse,
    ResourceNotFound,
    ResourcesChanged,
    dependency_order,
    plan_declarations,
    validate_declarations,
)
from domain.stack import Stack
from domain.stack_memento import StackSnapshot
from tests.conftest import invocation


def res(name: str, type_: str = "file", depends_on: tuple[str, ...] = (), **attributes: Any
        ) -> Resource:
    return Resource(name=name, type=type_, attributes=attributes, depends_on=depends_on)


def stack_with(*resources: Resource) -> Stack:
    stack = Stack.create("app", "", invocation())
    stack.declare_resources(list(resources), invocation())
    stack.collect_events()
    return stack


def topics(stack: Stack) -> list[str]:
    return [type(e).TOPIC for e in stack.collect_events()]  # type: ignore[attr-defined]


EXAMPLE = (res("motd", path="/srv/app/motd", content="hello\n", mode="0644"),
        res("data-dir", "directory", path="/srv/app/data"),
        res("marker", "command", ("data-dir",), check=["test", "-f", "/srv/app/data/marker"]))


@pytest.mark.parametrize(("resources", "fragment"), [
    ((res("a"), res("a")), "duplicate resource name 'a'"),
    ((res("a", depends_on=("a",)),), "'a' depends on itself"),
    ((res("a", depends_on=("ghost",)),), "'a' depends on 'ghost', which is not declared"),
    ((res("a", depends_on=("b",)), res("b", depends_on=("c",)), res("c", depends_on=("a",))),
     "cycle"),
    ((res("bad name"),), "invalid resource name 'bad name'"),
    ((res("a", "File"),), "invalid type 'File'"),
])
def test_unusable_declarations_are_refused_naming_the_resource(
        resources: tuple[Resource, ...], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as refused:
        validate_declarations(resources)
    assert refused.value.details["resource"] in {r.name for r in resources}


def test_a_cycle_is_shown_as_a_path() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_declarations([res("a", depends_on=("b",)), res("b", depends_on=("a",))])
    message = str(refused.value)
    assert "a -> b -> a" in message or "b -> a -> b" in message


def test_dependencies_come_first_level_by_level_by_name() -> None:
    resources = {r.name: r for r in (res("z"), res("b", depends_on=("z",)), res("a"),
                                     res("a2", depends_on=("y", "x")), res("y"), res("x"))}
    assert dependency_order(resources) == ["a", "x", "y", "z", "a2", "b"]


def test_dependency_order_does_not_matter_to_equality() -> None:
    assert res("x", depends_on=("b", "a", "b")) == res("x", depends_on=("a", "b"))


def test_a_plan_adds_changes_removes_and_names_what_changed() -> None:
    current = {r.name: r for r in (res("keep", path="/k"), res("edit", path="/e", mode="0644"),
                                   res("drop", path="/d"))}
    plan = plan_declarations(current, [res("keep", path="/k"), res("new", path="/n"),
                                       res("edit", "file", ("keep",), path="/e", mode="0600")])
    assert [r.name for r in plan.added] == ["new"]
    assert [(u.resource.name, u.changed) for u in plan.changed] == [
        ("edit", ("mode", "depends_on"))]
    assert plan.removed == ("drop",)
    assert plan.unchanged == ("keep",)


def test_declaring_appends_one_event_per_change_and_nothing_when_unchanged() -> None:
    stack = Stack.create("app", "", invocation())
    stack.collect_events()
    stack.declare_resources(list(EXAMPLE), invocation())
    assert topics(stack) == ["resource.declared"] * 3
    assert stack.declare_resources(list(EXAMPLE), invocation()).is_empty
    assert topics(stack) == []
    changed = res("motd", path="/srv/app/motd", content="bye\n", mode="0644")
    stack.declare_resources([changed, EXAMPLE[1]], invocation())
    events = stack.collect_events()
    assert [type(e).TOPIC for e in events] == ["resource.updated", "resource.removed"]  # type: ignore[attr-defined]
    assert events[0].changed == ["content"]  # type: ignore[attr-defined]
    assert set(stack.resources) == {"motd", "data-dir"}


def test_a_locked_or_destroyed_stack_refuses_declarations() -> None:
    stack = stack_with()
    stack.acquire_lock(invocation("bob@b"), ttl=timedelta(minutes=5))
    with pytest.raises(StackLocked):
        stack.declare_resources(list(EXAMPLE), invocation("alice@a"))
    destroyed = stack_with()
    destroyed.destroy(invocation())
    with pytest.raises(StackDestroyed):
        destroyed.declare_resources(list(EXAMPLE), invocation())
    with pytest.raises(StackDestroyed):
        destroyed.plan_resources(list(EXAMPLE))


def test_removing_a_needed_resource_is_refused() -> None:
    stack = stack_with(*EXAMPLE)
    with pytest.raises(ResourceInUse, match="needed by 'marker'"):
        stack.remove_resource("data-dir", invocation())
    with pytest.raises(ResourceNotFound, match="resource 'ghost' not found in stack 'app'"):
        stack.remove_resource("ghost", invocation())
    assert topics(stack) == []
    stack.remove_resource("marker", invocation())
    stack.remove_resource("data-dir", invocation())
    assert topics(stack) == ["resource.removed", "resource.removed"]
    assert list(stack.resources) == ["motd"]


def test_creating_a_destroyed_stack_again_starts_without_resources() -> None:
    stack = stack_with(*EXAMPLE)
    stack.destroy(invocation())
    assert stack.resources  # a destroyed stack still shows what it had
    stack.recreate("", invocation())
    assert stack.resources == {}


def test_resources_survive_a_library_snapshot_and_copies_are_independent() -> None:
    stack = stack_with(*EXAMPLE)
    restored = StackSnapshot.take(stack).mutate(None)
    assert restored.resources == stack.resources
    copied = copy.deepcopy(stack)
    copied.remove_resource("marker", invocation())
    assert "marker" in stack.resources


def test_a_snapshot_taken_before_resources_existed_still_loads() -> None:
    stack = stack_with()
    state = StackSnapshot.take(stack).state
    del state["resources"]
    old = StackSnapshot.take(stack).model_copy(update={"state": state})
    assert old.mutate(None).resources == {}


def report(*statuses: DriftStatus) -> DriftReport:
    return DriftReport(resources=tuple(
        ResourceDrift(name=f"r{i}", type="file", status=status) for i, status in enumerate(statuses)))


def test_an_observation_is_recorded_as_checked_or_detected() -> None:
    stack = stack_with(*EXAMPLE)
    stack.record_drift(report(DriftStatus.IN_SYNC), invocation(), against=stack.resources)
    stack.record_drift(report(DriftStatus.IN_SYNC, DriftStatus.UNKNOWN), invocation(),
                       against=stack.resources)
    assert topics(stack) == ["drift.checked", "drift.detected"]


def test_an_observation_keeps_only_what_was_not_in_sync() -> None:
    stack = stack_with(*EXAMPLE)
    stack.record_drift(report(DriftStatus.IN_SYNC, DriftStatus.DRIFTED, DriftStatus.IN_SYNC),
                       invocation(), against=stack.resources)
    stack.record_drift(report(DriftStatus.IN_SYNC, DriftStatus.IN_SYNC), invocation(),
                       against=stack.resources)
    detected, checked = stack.collect_events()
    assert (detected.checked, [r.name for r in detected.resources]) == (3, ["r1"])  # type: ignore[attr-defined]
    assert (checked.checked, checked.resources) == (2, [])  # type: ignore[attr-defined]


def test_an_observation_is_recorded_while_someone_else_holds_the_lock() -> None:
    stack = stack_with(*EXAMPLE)
    stack.acquire_lock(invocation("bob@b"), ttl=timedelta(minutes=5))
    stack.collect_events()
    stack.record_drift(report(DriftStatus.DRIFTED), invocation("alice@a"),
                       against=stack.resources)
    assert topics(stack) == ["drift.detected"]


def test_an_observation_of_changed_declarations_is_refused() -> None:
    stack = stack_with(*EXAMPLE)
    before = dict(stack.resources)
    stack.remove_resource("marker", invocation())
    stack.collect_events()
    with pytest.raises(ResourcesChanged):
        stack.record_drift(report(DriftStatus.IN_SYNC), invocation(), against=before)
    assert topics(stack) == []


def test_selecting_resources_for_a_fix_checks_the_lock_and_the_names() -> None:
    stack = stack_with(*EXAMPLE)
    assert [r.name for r in stack.select_resources(invocation())] == [
        "data-dir", "motd", "marker"]
    assert [r.name for r in stack.select_resources(invocation(), ["motd"], for_change=True)] == [
        "motd"]
    with pytest.raises(ResourceNotFound):
        stack.select_resources(invocation(), ["ghost"])
    stack.acquire_lock(invocation("bob@b"), ttl=timedelta(minutes=5))
    with pytest.raises(StackLocked):
        stack.select_resources(invocation("alice@a"), for_change=True)
    assert stack.select_resources(invocation("alice@a"))  # observing needs no lock


def test_accepting_drift_updates_the_declarations_and_records_the_fix() -> None:
    stack = stack_with(*EXAMPLE)
    before = ResourceDrift(name="motd", type="file", status=DriftStatus.DRIFTED,
                           differences=(AttributeDrift(attribute="content", expected="hello\n",
                                                       actual="hi\n"),))
    adopted = res("motd", path="/srv/app/motd", content="hi\n", mode="0644")
    after = before.model_copy(update={"status": DriftStatus.IN_SYNC, "differences": ()})
    fix = fix_outcome(before, after, mode=FixMode.ACCEPT)
    stack.accept_drift([adopted], [fix], invocation(), against=dict(stack.resources))
    events = stack.collect_events()
    assert [type(e).TOPIC for e in events] == ["resource.updated", "drift.fixed"]  # type: ignore[attr-defined]
    assert events[0].changed == ["content"]  # type: ignore[attr-defined]
    assert events[1].mode is FixMode.ACCEPT  # type: ignore[attr-defined]
    assert stack.resources["motd"].attributes["content"] == "hi\n"


def _order_over_every_resource(resources: dict[str, Resource]) -> list[str]:
    """Level by level, by name, with every resource in the sorter (the plain way)."""
    from graphlib import TopologicalSorter

    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in sorted(resources):
        sorter.add(name, *resources[name].depends_on)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


@pytest.mark.parametrize("seed", range(30))
def test_resources_outside_every_dependency_join_the_first_level(seed: int) -> None:
    import random

    rng = random.Random(seed)
    names = [f"r{i:02d}" for i in range(rng.randrange(1, 25))]
    resources = {}
    for i, name in enumerate(names):
        # Only on resources listed before it: never a cycle; often none at all.
        needs = rng.sample(names[:i], k=min(i, rng.choice([0, 0, 0, 1, 2])))
        resources[name] = res(name, depends_on=tuple(needs))
    assert dependency_order(resources) == _order_over_every_resource(resources)
