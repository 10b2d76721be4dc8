"""Read models: a pure function of the event log, healed after crashes, rebuilt from zero."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from commands.models import (
    AcquireLock,
    AddDependencies,
    ChangeOutputs,
    CreateSnapshot,
    CreateStack,
    DeclareResources,
    DeleteSnapshot,
    DestroyStack,
    DetectDrift,
    FixDrift,
    ReleaseLock,
    RemoveDependencies,
    RemoveResource,
    RestoreSnapshot,
    SetValues,
    UnsetValues,
    UpdateStack,
)
from domain.errors import DomainError
from domain.invocation import Invocation
from domain.resources import Resource
from domain.validation import CheckResult, CheckStatus
from infrastructure.runtime import Runtime
from projections import schema
from projections.projectors.stacks import StackProjector
from projections.queries import positions, stacks
from tests.conftest import (
    Database,
    event_count,
    execute,
    invocation,
    read_model_dump,
    settings,
)


def random_resources(rng: random.Random, world: Path) -> list[Resource]:
    """Some of a small pool of file and directory resources, under `world`."""
    pool = [Resource(name=f"f{i}", type="file", depends_on=("d",) if i % 2 else (), attributes={
                "path": str(world / "d" / f"f{i}"), "content": f"c{rng.randint(0, 2)}",
                "mode": rng.choice(["0644", "0600"])}) for i in range(4)]
    chosen = [r for r in pool if rng.random() < 0.6]
    needs_dir = any(r.depends_on for r in chosen)
    return ([Resource(name="d", type="directory", attributes={"path": str(world / "d")})]
            if needs_dir or rng.random() < 0.5 else []) + chosen


def disturb(rng: random.Random, world: Path) -> None:
    """Change the real world behind the tool's back."""
    files = [p for p in world.rglob("f*") if p.is_file()]
    if files and rng.random() < 0.5:
        rng.choice(files).unlink()
    elif files:
        target = rng.choice(files)
        target.write_text(f"changed {rng.randint(0, 9)}")
        target.chmod(rng.choice([0o600, 0o644]))


def random_command(runtime: Runtime, rng: random.Random, name: str, names: list[str],
                   inv: Invocation, world_root: Path) -> None:
    """One command of any kind, chosen with rough real-world frequencies (resources are
    files and directories under `world_root`)."""
    service = runtime.service()
    world = world_root / name
    other = rng.choice(names)
    version = rng.randint(1, 4)
    commands: list[tuple[float, Callable[[], object]]] = [
        (0.06, lambda: service.declare_resources(DeclareResources(
            stack=name, resources=random_resources(rng, world)), inv)),
        (0.07, lambda: service.remove_resource(
            RemoveResource(stack=name, name=f"f{rng.randint(0, 3)}"), inv)),
        (0.08, lambda: disturb(rng, world)),
        (0.10, lambda: service.drift.detect(DetectDrift(stack=name), inv)),
        (0.11, lambda: service.drift.fix(FixDrift(stack=name, accept=rng.random() < 0.3), inv)),
        (0.20, lambda: service.create_stack(CreateStack(
            stack=name, description=f"d{rng.randint(0, 9)}",
            depends_on=rng.sample([n for n in names if n != name], rng.randint(0, 2))), inv)),
        (0.25, lambda: service.add_dependencies(AddDependencies(
            stack=name, dependencies=rng.sample([*names, "ext"], 2)), inv)),
        (0.28, lambda: service.remove_dependencies(RemoveDependencies(
            stack=name, dependencies=[other]), inv)),
        (0.31, lambda: service.record_validations({name: [CheckResult(
            check="c", status=rng.choice(list(CheckStatus)), reason="r")]}, inv)),
        (0.50, lambda: service.set_values(SetValues(stack=name, values={
            f"k{rng.randint(0, 5)}": rng.choice([1, "x", [1, 2], {"a": None}, True])
            for _ in range(rng.randint(1, 3))}), inv)),
        (0.65, lambda: service.unset_values(
            UnsetValues(stack=name, keys=[f"k{rng.randint(0, 5)}"]), inv)),
        (0.80, lambda: service.change_outputs(ChangeOutputs(
            stack=name, set={f"o{rng.randint(0, 3)}": rng.randint(0, 9)},
            unset=[f"o{rng.randint(0, 3)}"] if rng.random() < 0.3 else []), inv)),
        (0.84, lambda: service.update_stack(
            UpdateStack(stack=name, description=f"u{rng.randint(0, 9)}"), inv)),
        (0.88, lambda: service.create_snapshot(CreateSnapshot(stack=name, description="r"), inv)),
        (0.90, lambda: service.delete_snapshot(DeleteSnapshot(stack=name, version=version), inv)),
        (0.92, lambda: service.restore_snapshot(RestoreSnapshot(stack=name, version=version), inv)),
        (0.95, lambda: service.acquire_lock(AcquireLock(stack=name, ttl=timedelta(minutes=5)),
                                            inv)),
        (0.97, lambda: service.release_lock(ReleaseLock(stack=name), inv)),
        (1.00, lambda: service.destroy_stack(DestroyStack(stack=name, reason="random"), inv)),
    ]
    choice = rng.random()
    command = next(run for threshold, run in commands if choice < threshold)
    with contextlib.suppress(DomainError):
        command()


def random_history(runtime: Runtime, world: Path, steps: int, seed: int) -> None:
    """Apply a long random sequence of commands, catching up after most (as the CLI does)."""
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(6)]
    for _ in range(steps):
        inv = invocation(actor=rng.choice(["alice@a", "bob@b"]))
        random_command(runtime, rng, rng.choice(names), names, inv, world)
        if rng.random() < 0.7:
            runtime.catch_up()
    runtime.catch_up()


def test_rebuild_from_zero_equals_incremental(runtime: Runtime, db_path: Database,
        tmp_path: Path) -> None:
    random_history(runtime, tmp_path / "world", steps=400, seed=7)
    assert event_count(db_path) > 200
    incremental = read_model_dump(db_path)
    assert incremental["stacks"] and incremental["state_events"]
    assert incremental["stack_dependencies"] and incremental["stack_validations"]
    assert incremental["resources"] and incremental["drift_reports"]
    kinds = {row[4] for row in incremental["state_events"]}
    assert {"resource.declared", "resource.updated", "resource.removed", "drift.detected",
            "drift.fixed"} <= kinds
    rebuilt_count = runtime.projections().rebuild()
    assert rebuilt_count == event_count(db_path)
    assert read_model_dump(db_path) == incremental


def test_reprocessing_an_event_changes_nothing(runtime: Runtime, db_path: Database,
        tmp_path: Path) -> None:
    random_history(runtime, tmp_path / "world", steps=60, seed=3)
    before = read_model_dump(db_path)
    connection = runtime.connection()
    connection.execute("UPDATE projection_positions SET position = position - 5")
    runtime.catch_up()
    assert read_model_dump(db_path) == before


def test_a_crash_between_event_write_and_projection_is_healed(runtime: Runtime, db_path: Database,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    runtime.catch_up()
    service.set_values(SetValues(stack="app", values={"a": 1, "b": 2}), invocation())

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(StackProjector, "_put", staticmethod(crash))
    with pytest.raises(RuntimeError):
        runtime.catch_up()
    monkeypatch.undo()
    # The failed catch-up rolled back rows and positions together.
    assert stacks.find_stack(runtime.connection(), "app").values == {}  # type: ignore[union-attr]
    assert positions.lag(runtime.connection()) == 2
    # The next reader heals it.
    other = Runtime(settings(db_path))
    try:
        assert stacks.find_stack(other.reader(), "app").values == {"a": 1, "b": 2}  # type: ignore[union-attr]
    finally:
        other.close()


def test_a_changed_projection_is_rebuilt_on_open(runtime: Runtime, db_path: Database,
        tmp_path: Path) -> None:
    random_history(runtime, tmp_path / "world", steps=50, seed=11)
    expected = read_model_dump(db_path)
    schema_version_forgotten = ("PRAGMA user_version = 0" if isinstance(db_path, Path) else
                                "DELETE FROM sloth_runner_meta WHERE key = 'schema_version'")
    execute(db_path, "UPDATE projection_positions SET version = 0 WHERE name = 'stacks'",
            "DELETE FROM state_values", schema_version_forgotten)
    reopened = Runtime(settings(db_path))
    try:
        reopened.reader()
    finally:
        reopened.close()
    assert read_model_dump(db_path) == expected


def test_projection_status_reports_lag(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="a"), invocation())
    service.create_stack(CreateStack(stack="b"), invocation())
    status = {s.name: s for s in positions.projection_status(runtime.connection())}
    assert {s.lag for s in status.values()} == {2}
    runtime.catch_up()
    status = {s.name: s for s in positions.projection_status(runtime.connection())}
    assert {(s.position, s.head, s.lag) for s in status.values()} == {(2, 2, 0)}
    assert set(status) == {spec.name for spec in schema.PROJECTIONS}


def test_batched_projection_equals_one_event_at_a_time(runtime: Runtime, db_path: Database,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Projectors keep rows back until the end of a batch (values, stamps, audit rows): the
    read models are the same as when every event is its own batch."""
    import projections.runner

    monkeypatch.setattr(projections.runner, "BATCH_SIZE", 1)
    random_history(runtime, tmp_path / "world", steps=300, seed=23)
    one_by_one = read_model_dump(db_path)
    monkeypatch.undo()
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == one_by_one


def test_values_changed_again_and_again_in_one_batch(runtime: Runtime, db_path: Database,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import projections.runner

    service = runtime.service()
    inv = invocation()
    service.create_stack(CreateStack(stack="app"), inv)
    service.set_values(SetValues(stack="app", values={"a": 1, "b": 2, "c": 3}), inv)
    service.unset_values(UnsetValues(stack="app", keys=["a"]), inv)
    service.change_outputs(ChangeOutputs(stack="app", set={"url": "x"}), inv)
    service.create_snapshot(CreateSnapshot(stack="app"), inv)
    service.set_values(SetValues(stack="app", values={"a": 4, "d": 5}), inv)
    service.restore_snapshot(RestoreSnapshot(stack="app", version=1), inv)
    service.set_values(SetValues(stack="app", values={"e": 6}), inv)
    service.destroy_stack(DestroyStack(stack="app", force=True), inv)
    service.create_stack(CreateStack(stack="app"), inv)
    service.set_values(SetValues(stack="app", values={"f": 7, "b": 8}), inv)
    service.unset_values(UnsetValues(stack="app", keys=["f"]), inv)
    runtime.catch_up()  # all in one batch
    detail = stacks.find_stack(runtime.connection(), "app")
    assert detail is not None and detail.values == {"b": 8}
    counts = runtime.connection().execute(
        "SELECT value_count, output_count FROM stacks WHERE name = 'app'").fetchone()
    assert counts == (1, 0)
    in_one_batch = read_model_dump(db_path)
    monkeypatch.setattr(projections.runner, "BATCH_SIZE", 1)
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == in_one_batch


@pytest.mark.sqlite_only(reason="SQLite's index SQL and page-cache settings; "
                                "tests/integration/test_postgres_database.py checks the indexes")
def test_a_rebuild_leaves_the_indexes_and_the_connection_as_they_were(
        runtime: Runtime, tmp_path: Path) -> None:
    random_history(runtime, tmp_path / "world", steps=40, seed=5)
    connection = runtime.connection()

    def indexes() -> list[tuple[str, str]]:
        return sorted(connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall())

    before = indexes()
    assert ("state_events_by_stack",) in [(name,) for name, _ in before]
    settings = connection.execute("PRAGMA cache_size").fetchone(), connection.execute(
        "PRAGMA temp_store").fetchone()
    runtime.projections().rebuild()
    runtime.service().create_stack(CreateStack(stack="more"), invocation())
    runtime.catch_up()
    assert indexes() == before
    assert (connection.execute("PRAGMA cache_size").fetchone(),
            connection.execute("PRAGMA temp_store").fetchone()) == settings


def test_projectors_are_offered_only_the_events_they_handle(runtime: Runtime) -> None:
    from domain.stack import Stack
    from projections.projectors import all_projectors

    offered = {type(p).__name__: p.handles(Stack.StateSet) for p in all_projectors(runtime.store())}
    assert offered == {"StackProjector": True, "AuditProjector": True, "LockProjector": False,
                       "VersionProjector": False, "DependencyProjector": False,
                       "ValidationProjector": False, "ResourceProjector": False,
                       "ExecutionProjector": False, "TokenProjector": False,
                       "HookProjector": False}
    locks = [type(p).__name__ for p in all_projectors(runtime.store())
             if p.handles(Stack.LockAcquired)]
    assert locks == ["StackProjector", "AuditProjector", "LockProjector"]
    renewals = [type(p).__name__ for p in all_projectors(runtime.store())
                if p.handles(Stack.LockRenewed)]
    assert renewals == ["StackProjector", "AuditProjector", "LockProjector", "ExecutionProjector"]
