"""Terraform state on stacks, below the HTTP layer: records, drift, snapshots, read models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from commands.models import DetectDrift, FixDrift
from commands.terraform import TerraformBackend, TerraformLock, decode
from commands.tokens import CreateToken
from domain.errors import InvalidInput
from domain.invocation import Invocation, Source
from domain.resources import Resource
from infrastructure.providers import ProviderRegistry, RecordOnlyType
from infrastructure.runtime import Runtime
from tests.conftest import read_model_dump
from tests.server.conftest import state_document


def terraform(actor: str = "ci", lock_id: str | None = None) -> Invocation:
    return Invocation(actor=actor, source=Source.TERRAFORM, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC), lock_id=lock_id)


def push(runtime: Runtime, data: bytes, stack: str = "prod", lock_id: str | None = None) -> None:
    backend = TerraformBackend(runtime.service(), runtime.documents())
    backend.push(stack, data, decode(data), terraform(lock_id=lock_id))


def test_drift_never_observes_terraform_records(runtime: Runtime) -> None:
    push(runtime, state_document(1))
    service = runtime.service()
    outcome = service.drift.detect(DetectDrift(stack="prod"), terraform())
    assert outcome.detail["report"].resources == ()
    runtime.catch_up()
    states = runtime.reader().execute("SELECT name, state FROM resources").fetchall()
    assert states == [("null_resource.web", "recorded")]
    with pytest.raises(InvalidInput, match="record of what terraform manages"):
        service.drift.fix(FixDrift(stack="prod", resources=["null_resource.web"]), terraform())


def test_record_only_types_are_a_property_of_the_registry() -> None:
    from pydantic import BaseModel

    class Imported(BaseModel):
        source: str

    class ImportedType(RecordOnlyType[Imported]):
        spec = Imported

    registry = ProviderRegistry({"imported": ImportedType()}, plugins=False)
    declared = registry.normalize(Resource(name="x", type="imported",
                                           attributes={"source": "go"}))
    assert declared.record_only
    builtin = ProviderRegistry().normalize(Resource(name="y", type="terraform",
                                                    attributes={"address": "a.b"}))
    assert builtin.record_only and builtin.attributes["mode"] == "managed"
    with pytest.raises(InvalidInput, match="address"):
        ProviderRegistry().normalize(Resource(name="z", type="terraform", attributes={}))


def test_a_push_leaves_resources_and_outputs_set_by_hand_alone(runtime: Runtime) -> None:
    from commands.models import ChangeOutputs

    push(runtime, state_document(1))
    runtime.service().change_outputs(ChangeOutputs(stack="prod", set={"owner": "team-a"}),
                                     terraform("alice"))
    second = orjson.loads(state_document(2))
    del second["modules"][0]["outputs"]["greeting"]
    second["modules"][0]["resources"] = {}
    push(runtime, orjson.dumps(second))
    stack = runtime.service().load("prod")
    assert stack.outputs == {"owner": "team-a", "password": "<sensitive>"}
    assert stack.resources == {}
    assert stack.terraform is not None and stack.terraform.serial == 2


def test_snapshots_name_the_document_and_restore_renumbers_it(runtime: Runtime) -> None:
    from commands.models import RestoreSnapshot

    push(runtime, state_document(1, greeting="one"))
    push(runtime, state_document(2, greeting="two"))
    service = runtime.service()
    first = service.state_of_version(service.load("prod"), 1)
    assert first.terraform is not None and first.terraform.serial == 1
    service.restore_snapshot(RestoreSnapshot(stack="prod", version=1), terraform("admin"))
    held = service.load("prod").terraform
    assert held is not None and held.serial == 3 and held.lineage == "lineage-1"
    document = runtime.documents().get(held.sha256)
    assert document is not None
    restored = orjson.loads(document.data)
    assert restored["serial"] == 3
    assert restored["modules"][0]["outputs"]["greeting"]["value"] == "one"


def test_rebuilding_the_read_models_equals_keeping_them_up(runtime: Runtime,
                                                           db_path: Path) -> None:
    backend = TerraformBackend(runtime.service(), runtime.documents())
    backend.lock("prod", TerraformLock(ID="l1", Who="me", Operation="apply"), terraform())
    push(runtime, state_document(1), lock_id="l1")
    backend.unlock("prod", TerraformLock(ID="l1", Who="me", Operation="apply"), terraform())
    push(runtime, state_document(2, greeting="again"))
    backend.delete("prod", terraform())
    runtime.tokens().create(CreateToken(name="ci", stacks=["prod"]), terraform("admin"))
    runtime.tokens().revoke("ci", terraform("admin"))
    runtime.catch_up()
    incremental = read_model_dump(db_path)
    assert incremental["api_tokens"] and incremental["resources"] == []
    kinds = {row[4] for row in incremental["state_events"]}
    assert {"terraform.state.pushed", "terraform.state.deleted", "token.created",
            "token.revoked"} <= kinds
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental


def test_a_push_of_many_resources_takes_one_library_snapshot_of_what_it_saved(
        runtime: Runtime) -> None:
    from domain.names import stack_id
    from domain.stack import Stack

    document = orjson.loads(state_document(1))
    document["modules"][0]["resources"] = {
        f"null_resource.r{i}": {"type": "null_resource", "provider": "provider.null"}
        for i in range(350)}
    push(runtime, orjson.dumps(document))
    store = runtime.store()
    assert store.snapshots is not None
    identity = stack_id("prod")
    snapshots = [s.originator_version for s in store.snapshots.get(identity)]
    loaded = runtime.service().load("prod")
    assert snapshots == [loaded.version] and loaded.version > 350
    replayed: Stack | None = None
    for event in store.events.get(identity):
        replayed = event.mutate(replayed)  # type: ignore[attr-defined]
    assert replayed is not None
    assert replayed.user_state() == loaded.user_state() and len(loaded.resources) == 350
