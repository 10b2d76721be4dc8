"""Read models: a pure function of the event log, healed after crashes, rebuilt from zero."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from commands.models import (
    ChangeOutputs,
    CreateStack,
    DeclareResources,
    DestroyStack,
    DetectDrift,
    FixDrift,
    RemoveResource,
    SetValues,
    UnsetValues,
    UpdateStack,
)
from domain.errors import DomainError
from domain.resources import Resource
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from projections import queries, schema
from projections.projectors import StackProjector
from tests.conftest import event_count, invocation, read_model_dump


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


def random_history(runtime: Runtime, steps: int, seed: int) -> None:
    """Apply a long random sequence of commands, catching up after each (as the CLI does)."""
    rng = random.Random(seed)
    service = runtime.service()
    names = [f"s{i}" for i in range(6)]
    world = runtime.settings.db_path.parent / "world"
    for _ in range(steps):
        name = rng.choice(names)
        inv = invocation(actor=rng.choice(["alice@a", "bob@b"]))
        choice = rng.random()
        try:
            if choice < 0.08:
                service.declare_resources(DeclareResources(
                    stack=name, resources=random_resources(rng, world / name)), inv)
            elif choice < 0.1:
                service.remove_resource(RemoveResource(stack=name, name=f"f{rng.randint(0, 3)}"),
                                        inv)
            elif choice < 0.12:
                disturb(rng, world / name)
            elif choice < 0.15:
                service.detect_drift(DetectDrift(stack=name), inv)
            elif choice < 0.17:
                service.fix_drift(FixDrift(stack=name, accept=rng.random() < 0.3), inv)
            elif choice < 0.25:
                service.create_stack(CreateStack(stack=name, description=f"d{rng.randint(0, 9)}"), inv)
            elif choice < 0.5:
                values = {f"k{rng.randint(0, 5)}": rng.choice([1, "x", [1, 2], {"a": None}, True])
                          for _ in range(rng.randint(1, 3))}
                service.set_values(SetValues(stack=name, values=values), inv)
            elif choice < 0.65:
                service.unset_values(UnsetValues(stack=name, keys=[f"k{rng.randint(0, 5)}"]), inv)
            elif choice < 0.8:
                service.change_outputs(ChangeOutputs(
                    stack=name, set={f"o{rng.randint(0, 3)}": rng.randint(0, 9)},
                    unset=[f"o{rng.randint(0, 3)}"] if rng.random() < 0.3 else []), inv)
            elif choice < 0.9:
                service.update_stack(UpdateStack(stack=name, description=f"u{rng.randint(0, 9)}"), inv)
            else:
                service.destroy_stack(DestroyStack(stack=name, reason="random"), inv)
        except DomainError:
            pass
        if rng.random() < 0.7:
            runtime.catch_up()
    runtime.catch_up()


def test_rebuild_from_zero_equals_incremental(runtime: Runtime, db_path: Path) -> None:
    random_history(runtime, steps=400, seed=7)
    assert event_count(db_path) > 200
    incremental = read_model_dump(db_path)
    assert incremental["stacks"] and incremental["state_events"]
    assert incremental["resources"] and incremental["drift_reports"]
    kinds = {row[4] for row in incremental["state_events"]}
    assert {"resource.declared", "resource.updated", "resource.removed", "drift.detected",
            "drift.fixed"} <= kinds
    rebuilt_count = runtime.projections().rebuild()
    assert rebuilt_count == event_count(db_path)
    assert read_model_dump(db_path) == incremental


def test_reprocessing_an_event_changes_nothing(runtime: Runtime, db_path: Path) -> None:
    random_history(runtime, steps=60, seed=3)
    before = read_model_dump(db_path)
    connection = runtime.connection()
    connection.execute("UPDATE projection_positions SET position = position - 5")
    runtime.catch_up()
    assert read_model_dump(db_path) == before


def test_a_crash_between_event_write_and_projection_is_healed(runtime: Runtime, db_path: Path,
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
    assert queries.find_stack(runtime.connection(), "app").values == {}  # type: ignore[union-attr]
    assert queries.lag(runtime.connection()) == 2
    # The next reader heals it.
    other = Runtime(Settings(db_path=db_path))
    try:
        assert queries.find_stack(other.reader(), "app").values == {"a": 1, "b": 2}  # type: ignore[union-attr]
    finally:
        other.close()


def test_a_changed_projection_is_rebuilt_on_open(runtime: Runtime, db_path: Path) -> None:
    random_history(runtime, steps=50, seed=11)
    expected = read_model_dump(db_path)
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE projection_positions SET version = 0 WHERE name = 'stacks'")
        connection.execute("DELETE FROM state_values")
        connection.execute("PRAGMA user_version = 0")
    reopened = Runtime(Settings(db_path=db_path))
    try:
        reopened.reader()
    finally:
        reopened.close()
    assert read_model_dump(db_path) == expected


def test_projection_status_reports_lag(runtime: Runtime) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="a"), invocation())
    service.create_stack(CreateStack(stack="b"), invocation())
    status = {s.name: s for s in queries.projection_status(runtime.connection())}
    assert {s.lag for s in status.values()} == {2}
    runtime.catch_up()
    status = {s.name: s for s in queries.projection_status(runtime.connection())}
    assert {(s.position, s.head, s.lag) for s in status.values()} == {(2, 2, 0)}
    assert set(status) == {spec.name for spec in schema.PROJECTIONS}
