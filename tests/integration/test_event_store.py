"""The event store on real SQLite files: mapping, upcasting, snapshots, concurrency."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import BaseAggregate, CanInitAggregate
from eventsourcing.persistence import StoredEvent

from commands.models import CreateStack, SetValues
from domain.errors import StackAlreadyExists
from domain.events import DomainEvent
from domain.names import stack_id
from domain.stack import Stack
from infrastructure.eventstore import SNAPSHOT_INTERVAL
from infrastructure.runtime import Runtime
from projections.queries import events, stacks
from tests.conftest import Database, invocation, read_model_dump, settings

FIXTURES = Path(__file__).parent.parent / "fixtures"
STACK_EVENT_TYPES = {cls.TOPIC: cls for cls in vars(Stack).values()
                     if isinstance(cls, type) and issubclass(cls, DomainEvent)
                     and "TOPIC" in vars(cls)}


def load_fixture(name: str) -> list[StoredEvent]:
    rows = [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]
    return [StoredEvent(originator_id=UUID(r["originator_id"]),
                        originator_version=r["originator_version"], topic=r["topic"],
                        state=r["state"].encode()) for r in rows]


def test_events_stored_by_the_first_release_still_load(runtime: Runtime) -> None:
    store = runtime.store()
    store.recorder.insert_events(load_fixture("events-v1.jsonl"))
    stack: Stack = store.repository.get(stack_id("golden"))
    assert (stack.description, stack.incarnation, stack.values) == ("again", 2, {})
    old: Stack = store.repository.get(stack_id("golden"), version=8)
    assert old.values == {"b": {"n": [1, 2]}}
    assert old.outputs == {"port": 8080}
    assert old.description == "updated"
    connection = runtime.reader()
    assert stacks.find_stack(connection, "golden").incarnation == 2  # type: ignore[union-attr]
    assert len(events.list_events(connection, events.EventFilter())) == 10


def test_every_event_type_as_stored_by_the_second_release_loads_as_itself(
        runtime: Runtime, db_path: Database) -> None:
    """Each stored topic resolves to its own class: no event type is read as a subclass of
    another (`resource.updated` is not a `resource.declared`, nor `drift.checked` a
    `drift.detected`), and the read models built from them are the same after a rebuild."""
    stored = load_fixture("events-v2.jsonl")
    store = runtime.store()
    store.recorder.insert_events(stored)
    assert len({event.topic for event in stored}) == 25
    assert {event.topic for event in stored} <= set(STACK_EVENT_TYPES)
    for cls in STACK_EVENT_TYPES.values():
        assert [other.TOPIC for other in STACK_EVENT_TYPES.values()
                if other is not cls and issubclass(other, cls)] == []
    for record in stored:
        event = store.mapper.to_domain_event(record)
        assert record.topic == type(event).TOPIC
        assert type(event) is STACK_EVENT_TYPES[record.topic]
    app: Stack = store.repository.get(stack_id("app"))
    assert app.dependencies == ["ghost"] and app.resources == {}
    connection = runtime.reader()
    kinds = {e.type: e for e in events.list_events(connection, events.EventFilter())}
    assert kinds["drift.checked"].message.startswith("no drift")
    assert kinds["resource.updated"].message.endswith("changed: content")
    incremental = read_model_dump(db_path)
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental


class Ledger(BaseAggregate[UUID]):
    """An aggregate whose event changed shape: v1 stored `amount`, v2 stores cents."""

    TOPIC: ClassVar[str] = "test.ledger"

    class Event(DomainEvent):
        pass

    class Opened(Event, CanInitAggregate[UUID]):
        TOPIC: ClassVar[str] = "test.ledger.opened"
        originator_topic: str

        def apply(self, aggregate: Any) -> None:
            aggregate.cents = 0

    class EntryAdded(Event):
        TOPIC: ClassVar[str] = "test.ledger.entry_added"
        class_version: ClassVar[int] = 2
        amount_cents: int
        currency: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["amount_cents"] = state.pop("amount") * 100
            state["currency"] = "EUR"

        def apply(self, aggregate: Any) -> None:
            aggregate.cents += self.amount_cents


def test_old_version_events_load_through_their_upcaster(runtime: Runtime) -> None:
    store = runtime.store()
    store.recorder.insert_events(load_fixture("ledger-v1.jsonl"))
    ledger = store.repository.get(UUID("0f0c7a33-93c4-4d8e-9a41-4a0fb7d0bd2e"))
    assert ledger.cents == 4200
    entry = list(store.events.get(ledger.id))[1]
    assert (entry.amount_cents, entry.currency) == (4000, "EUR")
    # New events are written at the current version and read back unchanged.
    stored = store.mapper.to_stored_event(entry)
    assert json.loads(stored.state)["class_version"] == 2
    assert store.mapper.to_domain_event(stored) == entry


def test_stack_snapshots_upcast_too(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = Stack.create("app", "d", invocation())
    snapshot = Stack.Snapshot.take(stack)
    old_state = dict(snapshot.state)
    old_state["title"] = old_state.pop("description")
    monkeypatch.setattr(Stack, "class_version", 2, raising=False)

    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["description"] = state.pop("title")

    monkeypatch.setattr(Stack, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    restored = snapshot.model_copy(update={"state": old_state}).mutate(None)
    assert restored.description == "d"


def test_library_snapshots_bound_the_replay(runtime: Runtime, db_path: Database) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="long"), invocation())
    for i in range(2 * SNAPSHOT_INTERVAL + 5):
        service.set_values(SetValues(stack="long", values={"i": i}), invocation())
    store = runtime.store()
    assert store.snapshots is not None
    snapshots = list(store.snapshots.get(stack_id("long")))
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL, 2 * SNAPSHOT_INTERVAL]
    fresh = Runtime(settings(db_path))
    try:
        assert fresh.service().load("long").values == {"i": 2 * SNAPSHOT_INTERVAL + 4}
        assert fresh.service().load("long", version=150).values == {"i": 148}
    finally:
        fresh.close()


def test_a_create_that_loses_a_race_is_a_conflict(runtime: Runtime, db_path: Database) -> None:
    """The rival's write lands between our load and our save: we retry and see it exists."""
    rival = Runtime(settings(db_path))
    store = runtime.store()
    original_save = store.save
    calls = []

    def save_after_rival(*objs: Any, **kwargs: Any) -> Any:
        if not calls:
            rival.service().create_stack(CreateStack(stack="contested"), invocation("rival@x"))
        calls.append(1)
        return original_save(*objs, **kwargs)

    store.save = save_after_rival  # type: ignore[method-assign]
    try:
        with pytest.raises(StackAlreadyExists):
            runtime.service().create_stack(CreateStack(stack="contested"), invocation())
    finally:
        rival.close()
    assert len(calls) == 1
    assert runtime.service().load("contested").created_on is not None
    events = list(store.events.get(stack_id("contested")))
    assert [e.actor for e in events] == ["rival@x"]


def test_unique_ids_per_name() -> None:
    assert stack_id("a") == stack_id("a") != stack_id("b")
    assert isinstance(uuid4(), UUID)


def _comparable(stack: Stack) -> dict[str, Any]:
    return {key: value for key, value in vars(stack).items() if key != "_pending_events"}


def test_bulk_loading_gives_the_stacks_the_repository_gives(
        runtime: Runtime, db_path: Database) -> None:
    from eventsourcing.application import project_aggregate

    from commands.models import AcquireLock, DestroyStack

    service = runtime.service()
    service.create_stack(CreateStack(stack="long"), invocation())
    for i in range(SNAPSHOT_INTERVAL + 7):  # replayed from a library snapshot
        service.set_values(SetValues(stack="long", values={"i": i}), invocation())
    service.create_stack(CreateStack(stack="exact"), invocation())
    for i in range(SNAPSHOT_INTERVAL - 1):  # its newest event is a snapshot's
        service.set_values(SetValues(stack="exact", values={"i": i}), invocation())
    service.create_stack(CreateStack(stack="short", depends_on=["long"]), invocation())
    service.acquire_lock(AcquireLock(stack="short", ttl=timedelta(hours=1)), invocation())
    service.create_stack(CreateStack(stack="gone"), invocation())
    service.destroy_stack(DestroyStack(stack="gone", force=True), invocation())
    service.create_stack(CreateStack(stack="gone", description="again"), invocation())
    names = ["long", "exact", "short", "gone"]
    fresh = Runtime(settings(db_path))  # nothing cached
    try:
        store = fresh.store()
        assert store.snapshots is not None
        assert [s.originator_version for s in store.snapshots.get(stack_id("exact"))] == [
            SNAPSHOT_INTERVAL]
        wanted = [stack_id(name) for name in [*names, "never-created"]]
        bulk = store.get_many(wanted)
        assert set(bulk) == {stack_id(name) for name in names}
        for name in names:
            # The library's own way: one by one, through its own aggregate projector.
            one: Stack = store.repository.get(stack_id(name), projector_func=project_aggregate)
            assert _comparable(bulk[stack_id(name)]) == _comparable(one), name
            assert bulk[stack_id(name)].version == one.version
    finally:
        fresh.close()


def test_stacks_are_loaded_in_bulk_across_chunks(runtime: Runtime, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    import infrastructure.eventstore

    monkeypatch.setattr(infrastructure.eventstore, "BULK_CHUNK", 2)
    service = runtime.service()
    names = [f"s{i}" for i in range(5)]
    for name in names:
        service.create_stack(CreateStack(stack=name), invocation())
        service.set_values(SetValues(stack=name, values={"name": name}), invocation())
    bulk = runtime.store().get_many([stack_id(name) for name in names])
    assert {stack.name: stack.values for stack in bulk.values()} == {
        name: {"name": name} for name in names}
