"""Snapshots against a naive replay of the event stream, over random histories (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.models import (
    AddDependencies,
    ChangeOutputs,
    CreateSnapshot,
    CreateStack,
    DeclareResources,
    DeleteSnapshot,
    RemoveDependencies,
    RestoreSnapshot,
    SetValues,
    UnsetValues,
)
from domain.errors import DomainError
from domain.names import stack_id
from domain.resources import Resource
from domain.versions import StackState, diff_states
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from projections.queries import versions
from tests.conftest import event_count, invocation

KEYS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans(), st.none(),
                   st.lists(st.integers(0, 2), max_size=2))
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("set"), KEYS, VALUES),
    st.tuples(st.just("unset"), KEYS),
    st.tuples(st.just("output"), KEYS, VALUES),
    st.tuples(st.just("unoutput"), KEYS),
    st.tuples(st.just("snapshot"), st.text(max_size=5)),
    st.tuples(st.just("delete"), st.integers(1, 8)),
    st.tuples(st.just("restore"), st.integers(1, 8)),
    st.tuples(st.just("depend"), st.sampled_from(["db", "cache"])),
    st.tuples(st.just("declare"), st.sets(st.sampled_from(["r1", "r2", "r3"])),
              st.text(alphabet="xyz", max_size=2)),
    st.tuples(st.just("undepend"), st.sampled_from(["db", "cache"])),
), min_size=1, max_size=30)


def naive_state(events: list[Any]) -> dict[str, Any]:
    """Fold a stream by hand, independently of the aggregate's own apply methods."""
    state: dict[str, Any] = {"description": "", "status": "created", "values": {}, "outputs": {},
                             "dependencies": [], "resources": {}, "terraform": None}
    for event in events:
        topic = type(event).TOPIC
        if topic == "stack.created":
            state = {"description": event.description, "status": "created", "values": {},
                     "outputs": {}, "dependencies": [], "resources": {}, "terraform": None}
        elif topic == "state.set":
            state["values"][event.key] = event.value
        elif topic == "state.deleted":
            del state["values"][event.key]
        elif topic == "output.set":
            state["outputs"][event.key] = event.value
        elif topic == "output.deleted":
            del state["outputs"][event.key]
        elif topic in ("resource.declared", "resource.updated"):
            state["resources"] = {**state["resources"], event.name: {
                "name": event.name, "type": event.type, "attributes": event.attributes,
                "depends_on": sorted(set(event.depends_on)), "record_only": event.record_only}}
        elif topic == "resource.removed":
            state["resources"] = {k: v for k, v in state["resources"].items() if k != event.name}
        elif topic == "stack.dependency.added":
            state["dependencies"] = sorted([*state["dependencies"], event.depends_on])
        elif topic == "stack.dependency.removed":
            state["dependencies"] = [d for d in state["dependencies"] if d != event.depends_on]
        elif topic == "terraform.state.pushed":
            state["terraform"] = {"sha256": event.sha256, "serial": event.serial,
                                  "lineage": event.lineage,
                                  "terraform_version": event.terraform_version,
                                  "size": event.size, "outputs": event.outputs,
                                  "sensitive": event.sensitive}
        elif topic == "terraform.state.deleted":
            state["terraform"] = None
        elif topic == "snapshot.restored":
            restored = event.state.model_dump(mode="json")
            state = {**restored, "values": dict(restored["values"]),
                     "outputs": dict(restored["outputs"]),
                     "dependencies": sorted(restored["dependencies"]),
                     "resources": dict(restored["resources"])}
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_snapshots_equal_a_naive_replay_of_their_stream(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = Path(directory) / "stacks.db"
        runtime = Runtime(Settings(db_path=db))
        service = runtime.service()
        service.create_stack(CreateStack(stack="app"), invocation())
        runtime.catch_up()
        count = event_count(db)
        for operation in operations:
            kind, *args = operation
            try:
                if kind == "set":
                    service.set_values(SetValues(stack="app", values={args[0]: args[1]}),
                                       invocation())
                elif kind == "unset":
                    service.unset_values(UnsetValues(stack="app", keys=[args[0]]), invocation())
                elif kind == "output":
                    service.change_outputs(ChangeOutputs(stack="app", set={args[0]: args[1]}),
                                           invocation())
                elif kind == "unoutput":
                    service.change_outputs(ChangeOutputs(stack="app", unset=[args[0]]),
                                           invocation())
                elif kind == "snapshot":
                    service.create_snapshot(CreateSnapshot(stack="app", description=args[0]),
                                            invocation())
                elif kind == "delete":
                    service.delete_snapshot(DeleteSnapshot(stack="app", version=args[0]),
                                            invocation())
                elif kind == "restore":
                    service.restore_snapshot(RestoreSnapshot(stack="app", version=args[0]),
                                             invocation())
                elif kind == "declare":
                    declared = [Resource(name=name, type="directory",
                                         attributes={"path": f"/srv/{name}{args[1]}"})
                                for name in sorted(args[0])]
                    service.declare_resources(DeclareResources(stack="app", resources=declared),
                                              invocation())
                elif kind == "depend":
                    service.add_dependencies(AddDependencies(stack="app", dependencies=[args[0]]),
                                             invocation())
                elif kind == "undepend":
                    service.remove_dependencies(
                        RemoveDependencies(stack="app", dependencies=[args[0]]), invocation())
            except DomainError:
                pass
            runtime.catch_up()
            assert event_count(db) >= count
            count = event_count(db)
            if kind == "restore":
                record = versions.find_version(runtime.connection(), str(stack_id("app")), args[0])
                if record is not None and record.deleted_at is None:
                    current = service.load("app").user_state()
                    assert diff_states(StackState.model_validate(record.state), current).is_empty

        store = runtime.store()
        identity = stack_id("app")
        connection = runtime.connection()
        # Incrementally maintained, then rebuilt from zero long after the fact: both must
        # equal the naive replay of the stream up to each version's position.
        for _ in ("incremental", "rebuilt"):
            for version in versions.list_versions(connection, str(identity)):
                record = versions.find_version(connection, str(identity), version.version)
                assert record is not None
                expected = naive_state(list(store.events.get(identity, lte=record.position)))
                assert record.state == expected
            runtime.projections().rebuild()
        runtime.close()
