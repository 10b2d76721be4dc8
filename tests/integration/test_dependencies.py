"""Dependencies and validation against a real SQLite event store and read models."""

from __future__ import annotations

import pytest

from commands.models import AddDependencies, CreateStack, DestroyStack
from commands.service import StackService
from domain.dependencies import CycleRefused
from domain.names import stack_id
from domain.stack import Stack, StackStatus
from domain.validation import CheckStatus
from infrastructure.clock import now
from infrastructure.runtime import Runtime
from projections.graph import DependencyGraph
from projections.queries import dependencies, validations
from tests.conftest import Database, event_count, invocation


def create(runtime: Runtime, name: str, *depends_on: str) -> None:
    runtime.service().create_stack(CreateStack(stack=name, depends_on=list(depends_on)),
                                   invocation())
    runtime.catch_up()


def test_the_add_time_check_reads_the_graph_from_the_read_model(runtime: Runtime,
                                                                db_path: Database) -> None:
    create(runtime, "db")
    create(runtime, "app", "db")
    create(runtime, "web", "app")
    before = event_count(db_path)
    with pytest.raises(CycleRefused) as refused:
        runtime.service().add_dependencies(AddDependencies(stack="db", dependencies=["web"]),
                                           invocation())
    assert refused.value.cycle == ["db", "web", "app", "db"]
    assert event_count(db_path) == before


def test_a_cycle_through_a_destroyed_stack_is_not_refused_but_is_found(runtime: Runtime) -> None:
    create(runtime, "db")
    create(runtime, "app", "db")
    runtime.service().destroy_stack(DestroyStack(stack="app"), invocation())
    runtime.catch_up()
    runtime.service().add_dependencies(AddDependencies(stack="db", dependencies=["app"]),
                                       invocation())
    runtime.catch_up()
    graph = DependencyGraph.load(runtime.reader())
    assert graph.cycles() == [["app", "db", "app"]]


def test_a_cycle_that_slipped_past_the_check_is_found_afterwards(runtime: Runtime) -> None:
    """Two writers that each add half of a cycle both succeed: neither saw the other's edge."""
    create(runtime, "a")
    create(runtime, "b")
    # What a second process sees while its read model does not yet hold the first's edge.
    stale = StackService(runtime.store(), clock=now, paths_back=lambda stack, names: {})
    runtime.service().add_dependencies(AddDependencies(stack="a", dependencies=["b"]), invocation())
    stale.add_dependencies(AddDependencies(stack="b", dependencies=["a"]), invocation())
    runtime.catch_up()
    graph = DependencyGraph.load(runtime.reader())
    assert graph.cycles() == [["a", "b", "a"]]
    with pytest.raises(Exception, match=r"dependency cycle: (a -> b -> a|b -> a -> b)"):
        graph.order(["a"])


def test_re_creating_drops_old_edges_from_the_read_model(runtime: Runtime) -> None:
    create(runtime, "app", "db", "cache")
    runtime.service().destroy_stack(DestroyStack(stack="app"), invocation())
    runtime.catch_up()
    assert [r.stack for r in dependencies.find_dependents(runtime.reader(), "db")] == ["app"]
    create(runtime, "app", "queue")
    edges = dependencies.dependency_edges(runtime.reader())
    assert edges == [("app", "queue")]


def test_a_dependency_that_last_failed_fails_validation(runtime: Runtime) -> None:
    create(runtime, "db")
    create(runtime, "app", "db")
    # No command sets a run's outcome yet (the workflow runner will); record one directly.
    store = runtime.store()
    db: Stack = store.repository.get(stack_id("db"))
    db.trigger_event(Stack.Updated, status=StackStatus.FAILED, actor="runner", source="system",
                     correlation_id="c", timestamp=now())
    store.save(db)
    (validation,) = runtime.validator().validate(["app"], invocation())
    results = {r.check: r for r in validation.checks}
    assert results["dependencies did not fail"].status is CheckStatus.FAIL
    assert results["dependencies did not fail"].reason == "'db' last failed (required by app)"
    assert (validation.passed, validation.event) == (False, "validation.failed")
    runtime.catch_up()
    last = validations.last_validations(runtime.reader())["app"]
    assert last.result == "failed"
    assert {c["check"] for c in last.checks} == set(results)
