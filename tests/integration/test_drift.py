"""Drift against the real world: declared resources, files changed out of band, fixes, locks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from commands.drift import DriftProcess, FixPlan
from commands.models import AcquireLock, CreateStack, DeclareResources, DetectDrift, FixDrift
from commands.outcome import Outcome
from commands.service import StackService
from domain.drift import DriftStatus, FixResult
from domain.locks import StackLocked
from domain.resources import Resource, ResourceNotFound, ResourcesChanged
from infrastructure.providers import ProviderRegistry
from infrastructure.runtime import Runtime
from infrastructure.settings import StackSettings
from projections.queries import events
from projections.queries import resources as resource_rows
from tests.conftest import Database, database_of, event_count, invocation, settings, world


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    root.mkdir()
    return root


def example_resources(srv: Path) -> list[Resource]:
    """The documented example, under a temporary directory."""
    return [
        Resource(name="motd", type="file", attributes={
            "path": str(srv / "app" / "motd"), "content": "hello\n", "mode": "0644"}),
        Resource(name="data-dir", type="directory", attributes={"path": str(srv / "app" / "data")}),
        Resource(name="marker", type="command", depends_on=("data-dir",), attributes={
            "check": ["test", "-f", str(srv / "app" / "data" / "marker")],
            "fix": ["touch", str(srv / "app" / "data" / "marker")]}),
    ]


def declared(runtime: Runtime, resources: list[Resource], stack: str = "app") -> StackService:
    service = runtime.service()
    service.create_stack(CreateStack(stack=stack), invocation())
    service.declare_resources(DeclareResources(stack=stack, resources=resources), invocation())
    runtime.catch_up()
    return service


def detect(service: StackService, stack: str = "app") -> dict[str, Any]:
    outcome = service.drift.detect(DetectDrift(stack=stack), invocation())
    return {r.name: r for r in outcome.detail["report"].resources}


def fix(service: StackService, stack: str = "app", **options: Any) -> Outcome:
    return service.drift.fix(FixDrift(stack=stack, **options), invocation())


def test_drift_out_of_band_is_detected_fixed_and_then_in_sync(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    first = fix(service)  # brings the empty directory tree to the declared state
    assert [f.result for f in first.detail["fixes"]] == [FixResult.REPAIRED] * 3
    motd = srv / "app" / "motd"
    assert (motd.read_text(), oct(motd.stat().st_mode & 0o777)) == ("hello\n", "0o644")

    motd.write_text("tampered\n")
    motd.chmod(0o600)
    report = detect(service)
    assert report["motd"].status is DriftStatus.DRIFTED
    assert {(d.attribute, d.expected, d.actual) for d in report["motd"].differences} == {
        ("content", "hello\n", "tampered\n"), ("mode", "0644", "0600")}
    assert report["data-dir"].status is report["marker"].status is DriftStatus.IN_SYNC

    repaired = fix(service)
    assert [(f.name, f.result) for f in repaired.detail["fixes"]] == [("motd", FixResult.REPAIRED)]
    assert repaired.events == ["drift.fixed"]
    assert (motd.read_text(), oct(motd.stat().st_mode & 0o777)) == ("hello\n", "0o644")
    outcome = service.drift.detect(DetectDrift(stack="app"), invocation())
    assert outcome.events == ["drift.checked"]
    assert outcome.detail["report"].in_sync


def test_a_deleted_file_is_recreated(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv)[:1])
    fix(service)
    (srv / "app" / "motd").unlink()
    assert [(d.attribute, d.actual) for d in detect(service)["motd"].differences] == [
        ("ensure", "absent")]
    fix(service)
    assert (srv / "app" / "motd").read_text() == "hello\n"


def test_accept_adopts_the_observed_state_and_touches_nothing(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv)[:1])
    fix(service)
    motd = srv / "app" / "motd"
    motd.write_text("edited by hand\n")
    before = world(srv)
    outcome = fix(service, accept=True)
    assert world(srv) == before
    assert outcome.events == ["resource.updated", "drift.fixed"]
    assert [f.result for f in outcome.detail["fixes"]] == [FixResult.ACCEPTED]
    assert service.load("app").resources["motd"].attributes["content"] == "edited by hand\n"
    assert detect(service)["motd"].status is DriftStatus.IN_SYNC
    runtime.catch_up()
    row = resource_rows.find_resource(runtime.connection(), outcome.stack_id, "motd")
    assert row is not None
    assert (row.state, row.desired["content"]) == ("in_sync", "edited by hand\n")


def test_a_command_resource_follows_its_marker_file(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv)[1:])
    marker = srv / "app" / "data" / "marker"
    report = detect(service)
    assert report["marker"].differences[0].attribute == "exit_code"
    fix(service)
    assert marker.exists()
    assert detect(service)["marker"].status is DriftStatus.IN_SYNC
    marker.unlink()
    assert detect(service)["marker"].status is DriftStatus.DRIFTED


def test_an_unreadable_path_is_unknown_with_its_reason_and_hides_nothing(
        runtime: Runtime, srv: Path) -> None:
    (srv / "regular").write_text("")
    resources = [
        Resource(name="under-a-file", type="file",
                 attributes={"path": str(srv / "regular" / "motd"), "content": "x"}),
        Resource(name="hangs", type="command",
                 attributes={"check": ["sleep", "30"], "timeout": "200ms"}),
        Resource(name="missing", type="file", attributes={"path": str(srv / "missing")}),
    ]
    service = declared(runtime, resources)
    outcome = service.drift.detect(DetectDrift(stack="app"), invocation())
    report = {r.name: r for r in outcome.detail["report"].resources}
    assert report["under-a-file"].status is DriftStatus.UNKNOWN
    assert "Not a directory" in report["under-a-file"].reason
    assert report["hangs"].reason == "check timed out after 200ms"
    assert report["missing"].status is DriftStatus.DRIFTED
    assert outcome.events == ["drift.detected"]


def test_a_partial_failure_records_what_succeeded_and_skips_dependents(
        runtime: Runtime, srv: Path) -> None:
    (srv / "regular").write_text("")
    resources = [
        Resource(name="blocked", type="directory", attributes={"path": str(srv / "regular" / "d")}),
        Resource(name="inside", type="file", depends_on=("blocked",),
                 attributes={"path": str(srv / "regular" / "d" / "f")}),
        Resource(name="fine", type="file", attributes={"path": str(srv / "fine"), "content": "ok"}),
    ]
    service = declared(runtime, resources)
    outcome = fix(service)
    results = {f.name: f for f in outcome.detail["fixes"]}
    assert results["fine"].result is FixResult.REPAIRED
    assert results["blocked"].result is FixResult.FAILED
    assert "Not a directory" in results["blocked"].reason
    assert results["inside"].result is FixResult.SKIPPED
    assert "'blocked'" in results["inside"].reason
    assert (srv / "fine").read_text() == "ok"
    runtime.catch_up()
    rows = {r.name: r for r in resource_rows.list_resources(runtime.connection(), outcome.stack_id)}
    assert rows["fine"].state == "in_sync"
    assert rows["blocked"].state == "unknown"
    assert "Not a directory" in rows["blocked"].reason


def test_detect_and_dry_runs_write_nothing_outside(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    fix(service)
    (srv / "app" / "motd").write_text("tampered\n")
    (srv / "app" / "data" / "marker").unlink()
    before = world(srv)
    detect(service)
    dry = fix(service, dry_run=True)
    accept_dry = fix(service, dry_run=True, accept=True)
    assert world(srv) == before
    assert dry.events == accept_dry.events == []
    assert [r.name for r in dry.detail["plan"].resources] == ["motd", "marker"]


def test_fix_of_named_resources_only(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    outcome = fix(service, resources=["data-dir"])
    assert [f.name for f in outcome.detail["fixes"]] == ["data-dir"]
    assert not (srv / "app" / "motd").exists()
    before = event_count(database_of(runtime))
    with pytest.raises(ResourceNotFound):
        fix(service, resources=["ghost"])
    assert event_count(database_of(runtime)) == before


def test_a_declined_plan_changes_nothing(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    seen: list[FixPlan] = []

    def decline(plan: FixPlan) -> bool:
        seen.append(plan)
        return False

    before = event_count(database_of(runtime))
    outcome = service.drift.fix(FixDrift(stack="app"), invocation(), confirm=decline)
    assert outcome.detail["cancelled"]
    assert [r.name for r in seen[0].resources] == ["data-dir", "motd", "marker"]
    assert world(srv) == {}
    assert event_count(database_of(runtime)) == before


def test_someone_elses_lock_refuses_the_fix_before_anything_is_touched(
        runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    held = service.acquire_lock(AcquireLock(stack="app", ttl=timedelta(minutes=5)),
                                invocation(actor="deploy-bot"))
    before = event_count(database_of(runtime))
    with pytest.raises(StackLocked):
        fix(service)
    assert world(srv) == {}
    assert event_count(database_of(runtime)) == before
    detect(service)  # observing is not a change: allowed, and recorded
    lock_id = held.detail["lock"].lock_id
    outcome = service.drift.fix(FixDrift(stack="app"), invocation(actor="ci", lock_id=lock_id))
    assert outcome.events == ["drift.fixed"]
    assert (srv / "app" / "motd").exists()


class Watching(ProviderRegistry):
    """The real providers, plus a hook that runs when a resource is applied or read."""

    def __init__(self, on_apply: Callable[[Resource], None] = lambda r: None,
                 on_read: Callable[[Resource], None] = lambda r: None) -> None:
        super().__init__()
        self.on_apply, self.on_read = on_apply, on_read

    def apply(self, resource: Resource) -> None:
        self.on_apply(resource)
        super().apply(resource)

    def read(self, resource: Resource) -> dict[str, Any]:
        self.on_read(resource)
        return super().read(resource)


@pytest.fixture
def auto_locked(db_path: Database) -> Iterator[Runtime]:
    rt = Runtime(settings(db_path, stacks=StackSettings(auto_lock=True)))
    yield rt
    rt.close()


def test_auto_lock_holds_the_lock_across_the_real_world_work(
        auto_locked: Runtime, srv: Path) -> None:
    service = declared(auto_locked, example_resources(srv))
    holders: list[str | None] = []

    def check_lock(resource: Resource) -> None:
        lock = service.load("app").lock
        holders.append(lock.operation if lock else None)

    service.drift = DriftProcess(service, Watching(on_apply=check_lock))
    outcome = fix(service)
    assert holders == ["drift fix"] * 3
    assert service.load("app").lock is None
    auto_locked.catch_up()
    logged = events.list_events(auto_locked.connection(),
                                 events.EventFilter(stack_id=outcome.stack_id))
    assert [e.type for e in logged][-3:] == ["lock.acquired", "drift.fixed", "lock.released"]


def test_declarations_changed_during_detection_are_not_recorded(
        runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))

    def meddle(resource: Resource) -> None:
        if resource.name == "motd":
            service.declare_resources(DeclareResources(
                stack="app", resources=example_resources(srv)[:2]), invocation())

    service.drift = DriftProcess(service, Watching(on_read=meddle))
    with pytest.raises(ResourcesChanged):
        service.drift.detect(DetectDrift(stack="app"), invocation())


def test_read_models_follow_declarations_observations_and_fixes(runtime: Runtime, srv: Path) -> None:
    service = declared(runtime, example_resources(srv))
    connection = runtime.connection()
    stack_id = str(service.load("app").id)
    rows = {r.name: r for r in resource_rows.list_resources(connection, stack_id)}
    assert {r.state for r in rows.values()} == {"pending"}
    assert rows["marker"].dependencies == ["data-dir"]
    assert rows["motd"].desired["content"] == "hello\n"
    assert rows["motd"].observed is None

    detect(service)
    runtime.catch_up()
    report = resource_rows.find_drift_report(connection, stack_id)
    assert report is not None
    assert (report.event_type, report.total, report.drifted, report.fixed_at) == (
        "drift.detected", 3, 3, None)
    motd = resource_rows.find_resource(connection, stack_id, "motd")
    assert motd is not None
    assert (motd.state, motd.observed, motd.checked_by) == ("drifted", {"ensure": "absent"},
                                                           "tester@test")
    fix(service)
    runtime.catch_up()
    report = resource_rows.find_drift_report(connection, stack_id)
    assert report is not None
    assert (report.event_type, report.fix_mode) == ("drift.detected", "apply")
    assert [f["result"] for f in report.fix or []] == ["repaired"] * 3
    assert {r.state for r in resource_rows.list_resources(connection, stack_id)} == {"in_sync"}
    changed = [*example_resources(srv)[:2],
               Resource(name="extra", type="directory", attributes={"path": str(srv / "x")})]
    service.declare_resources(DeclareResources(stack="app", resources=changed), invocation())
    runtime.catch_up()
    assert [r.name for r in resource_rows.list_resources(connection, stack_id)] == [
        "data-dir", "extra", "motd"]


def test_a_stack_with_many_resources_loads_through_library_snapshots(
        runtime: Runtime, srv: Path) -> None:
    resources = [Resource(name=f"f{i:03d}", type="file",
                          attributes={"path": str(srv / f"f{i:03d}"), "content": str(i)})
                 for i in range(250)]
    service = declared(runtime, resources)
    stack_id = service.load("app").id
    snapshots = runtime.store().snapshots
    assert snapshots is not None
    assert list(snapshots.get(stack_id))  # taken at versions 100 and 200
    other = Runtime(runtime.settings)
    try:
        loaded = other.service().load("app")
        assert loaded.resources == service.load("app").resources
        assert len(loaded.resources) == 250
        assert os.listdir(srv) == []  # declaring touches nothing outside
    finally:
        other.close()


def test_a_changed_source_file_is_seen_by_the_next_check(runtime: Runtime, srv: Path) -> None:
    source, target = srv / "motd.template", srv / "motd"
    source.write_text("hello\n")
    target.write_text("hello\n")
    service = declared(runtime, [Resource(name="motd", type="file", attributes={
        "path": str(target), "source": str(source)})])
    assert detect(service)["motd"].status is DriftStatus.IN_SYNC
    source.write_text("goodbye\n")  # the same declaration, in the same process
    drifted = detect(service)["motd"]
    assert drifted.status is DriftStatus.DRIFTED
    assert [d.attribute for d in drifted.differences] == ["content"]
    target.write_text("goodbye\n")
    assert detect(service)["motd"].status is DriftStatus.IN_SYNC


def test_a_changed_inline_content_is_compared_with_the_new_declaration(
        runtime: Runtime, srv: Path) -> None:
    target = srv / "motd"
    target.write_text("one\n")

    def motd(content: str) -> list[Resource]:
        return [Resource(name="motd", type="file", attributes={
            "path": str(target), "content": content})]

    service = declared(runtime, motd("one\n"))
    assert detect(service)["motd"].status is DriftStatus.IN_SYNC
    service.declare_resources(DeclareResources(stack="app", resources=motd("two\n")),
                              invocation())
    assert detect(service)["motd"].status is DriftStatus.DRIFTED


def _rendezvous_probes(srv: Path, count: int, patience: int) -> list[Resource]:
    """Command probes that each pass only if all `count` run at once (each waits for the
    others up to `patience` tenths of a second)."""
    arrived = srv / "arrived"
    arrived.mkdir()
    script = (f'touch "{arrived}/$1"; i=0; while [ "$(ls "{arrived}" | wc -l)" -lt {count} ];'
              f' do i=$((i+1)); [ $i -gt {patience} ] && exit 1; sleep 0.1; done')
    return [Resource(name=f"probe-{n}", type="command", attributes={
        "check": ["sh", "-c", script, "sh", str(n)], "timeout": "30s"}) for n in range(count)]


def test_command_probes_run_side_by_side_up_to_the_limit(db_path: Database, srv: Path) -> None:
    rt = Runtime(settings(db_path, stacks=StackSettings(max_concurrent_executions=3)))
    try:
        motd = srv / "motd"
        motd.write_text("hi\n")
        files = [Resource(name=f"file-{n}", type="file",
                          attributes={"path": str(motd), "content": "hi\n"}) for n in range(2)]
        service = declared(rt, _rendezvous_probes(srv, 3, patience=200) + files)
        outcome = service.drift.detect(DetectDrift(stack="app"), invocation())
        report = outcome.detail["report"].resources
        assert [r.name for r in report] == [
            "file-0", "file-1", "probe-0", "probe-1", "probe-2"]  # dependency order kept
        assert {r.name: r.status for r in report} == dict.fromkeys(
            [r.name for r in report], DriftStatus.IN_SYNC)
    finally:
        rt.close()


def test_command_probes_run_one_at_a_time_when_the_limit_is_one(db_path: Database, srv: Path) -> None:
    rt = Runtime(settings(db_path, stacks=StackSettings(max_concurrent_executions=1)))
    try:
        service = declared(rt, _rendezvous_probes(srv, 2, patience=10))
        report = detect(service)
        # The first probe gave up waiting for the second, which ran only after it.
        assert report["probe-0"].status is DriftStatus.DRIFTED
        assert report["probe-1"].status is DriftStatus.IN_SYNC
    finally:
        rt.close()
