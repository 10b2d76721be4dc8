"""What importing the Go tool's rows means: times, durations, versions, statuses, locks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commands.go_import import go_duration_ms, go_time, plan_go_import
from domain.errors import InvalidInput, StackNotFound
from domain.imports import ImportedStack, ImportedVersion
from domain.pulumi import SECRET_SIGNATURE, SIGNATURE_KEY, conceal, read_export
from domain.stack import Stack
from domain.versions import StackState
from tests.conftest import invocation

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=1)


def plan(tables: dict[str, list[dict[str, Any]]], **options: Any) -> Any:
    return plan_go_import(tables, file="go.db", providers=None, lock_ttl=TTL, at=AT, **options)


def stack_row(name: str = "app", **fields: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "status": "created", **fields}


@pytest.mark.parametrize(("stored", "expected"), [
    ("2024-03-01 09:00:00", datetime(2024, 3, 1, 9, 0, tzinfo=UTC)),
    ("2024-03-01 09:00:00.123456789+00:00", datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)),
    ("2024-03-01 11:00:00.5+02:00", datetime(2024, 3, 1, 9, 0, 0, 500000, tzinfo=UTC)),
    ("2024-03-01T09:00:00Z", datetime(2024, 3, 1, 9, 0, tzinfo=UTC)),
    ("2024-03-01 09:00:00.25 +0000 UTC m=+0.000123", datetime(2024, 3, 1, 9, 0, 0, 250000,
                                                              tzinfo=UTC)),
    (1709283600, datetime(2024, 3, 1, 9, 0, tzinfo=UTC)),
    ("yesterday", None), ("", None), (None, None),
])
def test_times_as_the_go_tool_stored_them(stored: Any, expected: datetime | None) -> None:
    assert go_time(stored) == expected


def test_durations_are_go_nanoseconds() -> None:
    assert go_duration_ms(84_000_000_000) == 84_000
    assert go_duration_ms("5192000000") == 5192
    assert go_duration_ms(999_999) == 0
    assert go_duration_ms(None) is None and go_duration_ms(-1) is None


def test_a_version_in_the_go_tools_snapshot_form_keeps_the_whole_stack() -> None:
    snapshot = {"version": 1, "stack_state": {
        "name": "app", "description": "then", "status": "failed", "workflow_file": "a.sloth",
        "outputs": {"url": "http://old"}, "metadata": {"team": "web"}},
        "resources": [{"id": "r-1", "type": "package", "name": "nginx",
                       "properties": {"version": "1.0"}, "dependencies": []}]}
    planned = plan({"stacks": [stack_row(description="now")], "state_versions": [
        {"stack_id": "id-app", "version": 1, "state_snapshot": json.dumps(snapshot),
         "created_by": "ops", "created_at": "2024-01-01 00:00:00"}]})
    (version,) = planned.stacks[0].versions
    assert version.state.description == "then" and version.state.status == "failed"
    assert version.state.outputs == {"url": "http://old"}
    assert version.state.values == {"workflow_file": "a.sloth", "metadata": {"team": "web"}}
    assert version.state.resources["nginx"].attributes["details"]["properties"] == {
        "version": "1.0"}
    assert (version.creator, version.created_at) == ("ops", datetime(2024, 1, 1, tzinfo=UTC))


def test_a_version_in_the_simple_form_is_its_state_data() -> None:
    planned = plan({"stacks": [stack_row()], "state_versions": [
        {"stack_id": "id-app", "version": "v2", "state_data": '{"replicas": 3}'},
        {"stack_id": "id-app", "version": 1, "state_data": "not json"},
        {"stack_id": "id-app", "version": 0, "state_data": "{}"}]})
    stack = planned.stacks[0]
    assert [(v.version, v.state.values) for v in stack.versions] == [
        (1, {"state_data": "not json"}), (2, {"replicas": 3})]
    assert stack.versions[0].creator == "unknown"
    assert any("numbered '0'" in note for note in stack.notes)


def test_statuses_without_a_counterpart_take_the_last_runs_outcome() -> None:
    planned = plan({"stacks": [stack_row(status="rolled_back"),
                               stack_row("idle", status="running")],
                    "stack_executions": [{"id": 1, "stack_id": "id-app", "status": "success",
                                          "started_at": "2024-01-01 00:00:00",
                                          "duration": 2_000_000_000}]})
    app, idle = sorted(planned.stacks, key=lambda s: s.name)
    assert (app.state.status, idle.state.status) == ("completed", "created")
    assert "status 'rolled_back' has no counterpart here" in app.notes[0]
    (run,) = app.runs
    assert run.succeeded and run.duration_ms == 2000
    assert run.finished_at == datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_of_two_stacks_of_one_name_the_later_updated_is_imported() -> None:
    planned = plan({"stacks": [
        stack_row(id="old", updated_at="2024-01-01 00:00:00", description="old"),
        {**stack_row(description="new"), "id": "new", "updated_at": "2024-02-01 00:00:00"}]})
    assert [s.description for s in planned.stacks] == ["new"]
    (skipped,) = planned.skipped
    assert "id old is not" in skipped.reason


def test_a_named_stack_that_is_not_there_is_not_found() -> None:
    with pytest.raises(StackNotFound):
        plan({"stacks": [stack_row()]}, only=["other"])


def test_a_lock_without_an_expiry_lasts_the_lock_timeout_from_when_it_was_taken() -> None:
    taken = AT - timedelta(minutes=20)
    planned = plan({"stacks": [stack_row()], "state_locks": [
        {"stack_id": "id-app", "who": "ops", "created_at": taken.isoformat(), "lock_id": "l1"}]})
    lock = planned.stacks[0].lock
    assert lock is not None and lock.expires_at == taken + TTL and lock.locked_by == "ops"
    stale = plan({"stacks": [stack_row()], "state_locks": [
        {"stack_id": "id-app", "locked_by": "ops", "expires_at": "2024-01-01 00:00:00"}]})
    assert "expired at 2024-01-01 00:00:00 UTC: not imported" in stale.stacks[0].notes[-1]
    stack = Stack.import_stack(stale.stacks[0], invocation())
    assert stack.lock is None


def test_rows_of_stacks_that_are_gone_are_noted() -> None:
    planned = plan({"stacks": [stack_row()], "state_events": [
        {"stack_id": "gone", "event_type": "x"}, {"stack_id": "gone", "event_type": "y"}]})
    assert planned.notes == ["state_events: 2 rows of stacks the stacks table does not hold, "
                             "not imported"]


def test_an_imported_lock_protects_until_its_original_expiry() -> None:
    expires = datetime.now(UTC) + timedelta(minutes=30)
    planned = plan_go_import(
        {"stacks": [stack_row()], "state_locks": [
            {"stack_id": "id-app", "locked_by": "ops", "lock_id": "l1",
             "locked_at": "2024-01-01 00:00:00", "expires_at": expires.isoformat()}]},
        file="go.db", providers=None, lock_ttl=TTL, at=datetime.now(UTC))
    stack = Stack.import_stack(planned.stacks[0], invocation())
    lock = stack.held_lock(expires - timedelta(seconds=1))
    assert lock is not None and lock.acquired_by_actor == "ops"
    assert lock.locked_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert stack.held_lock(expires) is None


def test_versions_keep_their_numbers_and_times() -> None:
    state = StackState(values={"a": 1})
    imported = ImportedStack(
        name="app", tool="go", file="go.db", import_id="x", state=state,
        versions=[ImportedVersion(version=5, creator="ops", state=state,
                                  created_at=datetime(2024, 1, 1, tzinfo=UTC)),
                  ImportedVersion(version=9, creator="ops", state=StackState())])
    stack = Stack.import_stack(imported, invocation())
    assert sorted(stack.versions) == [5, 9] and stack.last_version == 9
    assert stack.versions[5].created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert stack.imports == ("x",)
    stack.create_snapshot(invocation())
    assert stack.last_version == 10


def test_a_version_number_twice_is_refused() -> None:
    version = ImportedVersion(version=3, creator="ops", state=StackState())
    imported = ImportedStack(name="app", tool="go", file="go.db", import_id="x",
                             state=StackState(), versions=[version, version])
    with pytest.raises(InvalidInput, match="imported snapshot v3 is not above v3"):
        Stack.import_stack(imported, invocation())


def test_ordinary_events_are_stored_without_the_import_fields() -> None:
    stack = Stack.create("app", "", invocation())
    stack.create_snapshot(invocation())
    created, snapshot = stack.collect_events()
    assert "original_time" not in created.model_dump(mode="json")
    assert "original_time" not in snapshot.payload()


def test_secrets_are_concealed_wherever_they_are() -> None:
    secret = {SIGNATURE_KEY: SECRET_SIGNATURE, "ciphertext": "abc"}
    asset = {SIGNATURE_KEY: "c44067f5952c0a294b673a41bacd8c17", "text": "hello"}
    assert conceal(secret) == ("<secret>", True)
    assert conceal({"a": [1, secret], "b": asset}) == ({"a": [1, "<secret>"], "b": asset}, True)
    assert conceal([asset]) == ([asset], False)


def test_pulumi_resources_of_one_name_get_names_of_their_own() -> None:
    stack_urn = "urn:pulumi:prod::shop::pulumi:pulumi:Stack::shop-prod"
    document = {"version": 3, "deployment": {"resources": [
        {"urn": stack_urn, "type": "pulumi:pulumi:Stack", "outputs": {"bad key!": 1, "ok": 2}},
        {"urn": "urn:pulumi:prod::shop::aws:s3/bucket:Bucket::assets", "type": "aws:s3"},
        {"urn": "urn:pulumi:prod::shop::aws:s3/bucketPolicy:BucketPolicy::assets",
         "type": "aws:s3/bucketPolicy:BucketPolicy",
         "dependencies": ["urn:pulumi:prod::shop::aws:s3/bucket:Bucket::assets"]}]}}
    deployment = read_export(document)
    assert (deployment.stack, deployment.project) == ("prod", "shop")
    assert deployment.outputs == {"ok": 2}
    assert "output 'bad key!' not imported" in deployment.notes[0]
    names = [r.name for r in deployment.resources]
    assert names[0] == "assets" and names[1].startswith("assets.") and len(names) == 2
    policy = next(r for r in deployment.resources if r.name != "assets")
    assert policy.depends_on == ("assets",)


def test_a_library_snapshot_keeps_what_was_imported() -> None:
    from domain.stack_memento import StackSnapshot

    imported = ImportedStack(name="app", tool="go", file="go.db", import_id="digest",
                             state=StackState(values={"a": 1}))
    stack = Stack.import_stack(imported, invocation())
    restored = StackSnapshot.take(stack).mutate(None)
    assert restored.imports == ("digest",) and restored.values == {"a": 1}
