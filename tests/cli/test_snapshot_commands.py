"""`sloth-runner stack snapshot ...`, time travel and point-in-time rebuilds, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time

from commands.models import CreateSnapshot, CreateStack, SetValues
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from tests.conftest import CliRun, Database, event_count, invocation, read_model_dump


def parsed(cli: CliRun, *args: str) -> dict:  # type: ignore[type-arg]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_usage_example_2_with_37_versions(cli: CliRun) -> None:
    cli("stack", "create", "my-stack")
    for i in range(1, 37):
        cli("stack", "state", "set", "my-stack", f"release={i}")
        assert cli("stack", "snapshot", "create", "my-stack", "-d", f"release {i}").exit_code == 0
    created = cli("stack", "snapshot", "create", "my-stack", "--description",
                  "Before v2.0 upgrade", "--creator", "admin")
    assert created.exit_code == 0
    assert "Snapshot v37 of stack 'my-stack' created" in created.stdout
    cli("stack", "state", "set", "my-stack", "release=broken")
    listing = cli("stack", "snapshot", "list", "my-stack").stdout.splitlines()
    assert listing[0] == "Snapshots for stack: my-stack"
    assert listing[2].split() == ["Version", "Creator", "Description", "Created", "At"]
    assert set(listing[3].replace(" ", "")) == {"-"}
    assert listing[4].split()[:5] == ["v37", "admin", "Before", "v2.0", "upgrade"]
    assert listing[-1] == "Total: 37 snapshots"
    shown = parsed(cli, "stack", "snapshot", "show", "my-stack", "v37", "--json")
    assert (shown["creator"], shown["description"]) == ("admin", "Before v2.0 upgrade")
    assert shown["state"]["values"] == {"release": "36"}
    restored = cli("stack", "snapshot", "restore", "my-stack", "v5", "--yes")
    assert restored.exit_code == 0, restored.stderr
    assert "backup taken first as v38" in restored.stdout
    assert parsed(cli, "stack", "state", "list", "my-stack", "--json") == {"release": "5"}
    assert parsed(cli, "stack", "snapshot", "compare", "my-stack", "v5", "current",
                  "--json")["empty"] is True
    backup = parsed(cli, "stack", "snapshot", "show", "my-stack", "38", "--json")
    assert (backup["creator"], backup["state"]["values"]) == ("system", {"release": "broken"})


def test_restore_asks_dry_runs_and_records(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1", "b=2")
    cli("stack", "output", "app", "--set", "url=http://v1")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "state", "set", "app", "a=9", "c=3")
    cli("stack", "state", "unset", "app", "b")
    before = event_count(db_path)
    plan = cli("stack", "snapshot", "restore", "app", "v1", "--dry-run")
    assert plan.exit_code == 0
    assert '+ b = "2"' in plan.stdout and '- c = "3"' in plan.stdout
    assert '~ a: "9" -> "1"' in plan.stdout
    assert cli("stack", "snapshot", "restore", "app", "v1").exit_code == 2  # no TTY, no --yes
    assert event_count(db_path) == before
    assert cli("stack", "snapshot", "restore", "app", "v1", "--yes").exit_code == 0
    assert event_count(db_path) == before + 2
    types = [e["type"] for e in parsed(cli, "events", "list", "--json")["events"][-2:]]
    assert types == ["snapshot.created", "snapshot.restored"]


def test_restoring_a_destroyed_stack_brings_it_back(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "destroy", "app", "--yes")
    assert "app" not in cli("stack", "list").stdout
    assert cli("stack", "snapshot", "restore", "app", "1", "--yes").exit_code == 0
    shown = parsed(cli, "stack", "show", "app", "--json")
    assert (shown["status"], shown["values"]) == ("created", {"a": "1"})
    assert cli("stack", "state", "set", "app", "b=2").exit_code == 0


def test_restore_respects_locks(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    before = event_count(db_path)
    refused = cli("stack", "snapshot", "restore", "app", "v1", "--yes")
    assert refused.exit_code == 3
    assert "Lock Info:" in refused.stderr
    assert cli("stack", "snapshot", "create", "app").exit_code == 3
    assert event_count(db_path) == before


def test_delete_keeps_the_number_and_explains_itself(cli: CliRun) -> None:
    with freeze_time("2025-10-10 11:00:00"):
        cli("stack", "create", "app")
        for _ in range(3):
            cli("stack", "snapshot", "create", "app")
    assert cli("stack", "snapshot", "delete", "app", "v2").exit_code == 2  # needs --yes
    with freeze_time("2025-10-10 12:00:00"):
        assert cli("stack", "snapshot", "delete", "app", "v2", "--yes",
                   env={"SLOTH_RUNNER_ACTOR": "bob@b"}).exit_code == 0
    for command in (("show", "app", "v2"), ("restore", "app", "v2", "--yes"),
                    ("delete", "app", "v2", "--yes")):
        result = cli("stack", "snapshot", *command)
        assert result.exit_code == 4
        assert result.stderr.strip() == ("error: snapshot v2 of stack 'app' was deleted at "
                                         "2025-10-10 12:00:00 UTC by bob@b")
    assert parsed(cli, "stack", "snapshot", "create", "app", "--json")["snapshot"]["version"] == 4
    listing = parsed(cli, "stack", "snapshot", "list", "app", "--json")
    assert [s["version"] for s in listing["snapshots"]] == [4, 3, 1]
    assert listing["total"] == 3
    with_deleted = parsed(cli, "stack", "snapshot", "list", "app", "--all", "--json")
    assert [s["version"] for s in with_deleted["snapshots"]] == [4, 3, 2, 1]


def test_compare_covers_values_outputs_description_and_status(cli: CliRun) -> None:
    cli("stack", "create", "app", "-d", "first")
    cli("stack", "state", "set", "app", "keep=1", "gone=x", "num:=1")
    cli("stack", "output", "app", "--set", "url=http://a")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "update", "app", "-d", "second")
    cli("stack", "state", "set", "app", "new:=true", "num:=2")
    cli("stack", "state", "unset", "app", "gone")
    cli("stack", "output", "app", "--set", "url=http://b")
    cli("stack", "snapshot", "create", "app")
    diff = parsed(cli, "stack", "snapshot", "compare", "app", "v1", "v2", "--json")
    assert (diff["from"], diff["to"], diff["empty"]) == ("v1", "v2", False)
    assert diff["description"] == {"key": "description", "before": "first", "after": "second"}
    assert [c["key"] for c in diff["values"]["added"]] == ["new"]
    assert [c["key"] for c in diff["values"]["removed"]] == ["gone"]
    assert diff["values"]["changed"] == [{"key": "num", "before": 1, "after": 2}]
    assert [c["key"] for c in diff["outputs"]["changed"]] == ["url"]
    human = cli("stack", "snapshot", "compare", "app", "v2", "v1").stdout
    assert "- new = true" in human and "+ gone = \"x\"" in human
    assert "No differences." in cli("stack", "snapshot", "compare", "app", "v2", "current").stdout


def test_a_thousand_snapshots_stay_correct(runtime: Runtime, cli: CliRun) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="big"), invocation())
    for i in range(1, 1001):
        service.set_values(SetValues(stack="big", values={"i": i}), invocation())
        service.create_snapshot(CreateSnapshot(stack="big", description=f"n{i}"), invocation())
    runtime.catch_up()
    listing = parsed(cli, "stack", "snapshot", "list", "big", "--json")
    assert listing["total"] == 1000
    assert [s["version"] for s in listing["snapshots"][:3]] == [1000, 999, 998]
    assert cli("stack", "snapshot", "list", "big").stdout.splitlines()[-1] == (
        "Total: 1000 snapshots")
    for version in (1, 500, 1000):
        shown = parsed(cli, "stack", "snapshot", "show", "big", f"v{version}", "--json")
        assert shown["state"]["values"] == {"i": version}
        assert shown["description"] == f"n{version}"
    diff = parsed(cli, "stack", "snapshot", "compare", "big", "v1", "v1000", "--json")
    assert diff["values"]["changed"] == [{"key": "i", "before": 1, "after": 1000}]


def test_prune_by_age_and_keep(cli: CliRun, db_path: Database, tmp_path: Path) -> None:
    for day in range(1, 6):
        with freeze_time(f"2025-10-0{day} 12:00:00"):
            if day == 1:
                cli("stack", "create", "app")
                cli("stack", "create", "other")
            cli("stack", "snapshot", "create", "app")
            cli("stack", "snapshot", "create", "other")
    with freeze_time("2025-10-10 12:00:00"):
        before = event_count(db_path)
        plan = parsed(cli, "stack", "snapshot", "prune", "app", "--older-than", "7d",
                      "--dry-run", "--json")
        assert plan["stacks"] == [{"stack": "app", "pruned": [1, 2, 3]}]
        assert event_count(db_path) == before
        done = parsed(cli, "stack", "snapshot", "prune", "--all", "--older-than", "6d",
                      "--keep", "3", "--json")
        assert done["stacks"] == [{"stack": "app", "pruned": [1, 2]},
                                  {"stack": "other", "pruned": [1, 2]}]
        assert event_count(db_path) == before + 4
        # Default retention from the config file.
        config = tmp_path / "config.yaml"
        config.write_text("stacks:\n  snapshot_retention: 5d\n")
        again = parsed(cli, "--config", str(config), "stack", "snapshot", "prune", "app",
                       "--keep", "0", "--json")
        assert again["stacks"] == [{"stack": "app", "pruned": [3, 4, 5]}]


def test_auto_snapshot_before_destroy(cli: CliRun, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_snapshot: true\n")
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1")
    assert cli("--config", str(config), "stack", "destroy", "app", "--yes").exit_code == 0
    shown = parsed(cli, "stack", "snapshot", "show", "app", "v1", "--json")
    assert (shown["creator"], shown["description"]) == ("system",
                                                        "Automatic snapshot before destroy")
    assert shown["state"]["values"] == {"a": "1"}


def test_time_travel_just_before_and_just_after_an_event(cli: CliRun) -> None:
    with freeze_time("2025-10-10 09:00:00"):
        cli("stack", "create", "app")
    with freeze_time("2025-10-10 10:00:00"):
        cli("stack", "state", "set", "app", "version=v1")
    with freeze_time("2025-10-10 11:00:00"):
        cli("stack", "state", "set", "app", "version=v2")
        cli("stack", "lock", "acquire", "app")
    before = parsed(cli, "stack", "show", "app", "--at", "2025-10-10T10:59:59.999999Z", "--json")
    after = parsed(cli, "stack", "show", "app", "--at", "2025-10-10T11:00:00Z", "--json")
    assert before["values"] == {"version": "v1"} and before["lock"] is None
    assert after["values"] == {"version": "v2"} and after["lock"] is not None
    assert parsed(cli, "stack", "show", "app", "--at", "2025-10-10T09:00:00Z",
                  "--json")["values"] == {}
    ids = [e["id"] for e in parsed(cli, "events", "list", "--json")["events"]]
    at_event = parsed(cli, "stack", "show", "app", "--at-event", str(ids[1]), "--json")
    assert at_event["values"] == {"version": "v1"}
    human = cli("stack", "show", "app", "--at", "2025-10-10T10:30:00Z").stdout
    assert human.startswith("Stack: app (as of 2025-10-10T10:30:00.000000Z)")
    early = cli("stack", "show", "app", "--at", "2025-10-10T08:59:59Z")
    assert early.exit_code == 4
    assert "did not exist yet" in early.stderr


def test_history_lists_every_change_newest_first(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1")
    cli("stack", "snapshot", "create", "app", "-d", "first")
    history = parsed(cli, "stack", "history", "app", "--json")["history"]
    assert [h["kind"] for h in history] == ["snapshot.created", "state.set", "stack.created"]
    assert set(history[0]) == {"event_id", "version", "time", "actor", "source", "kind",
                               "summary", "correlation_id"}
    assert parsed(cli, "stack", "history", "app", "--limit", "1", "--json")["history"][0][
        "kind"] == "snapshot.created"
    human = cli("stack", "history", "app").stdout.splitlines()
    assert human[2].split() == ["EVENT", "VERSION", "TIME", "ACTOR", "TYPE", "SUMMARY"]


def test_rebuild_until_into_equals_the_live_read_models_then(cli: CliRun, db_path: Database,
                                                             tmp_path: Path) -> None:
    with freeze_time("2025-10-10 09:00:00"):
        cli("stack", "create", "app")
        cli("stack", "create", "db")
        cli("stack", "state", "set", "app", "a=1")
        cli("stack", "snapshot", "create", "app")
        cli("stack", "lock", "acquire", "db")
    then = read_model_dump(db_path)
    cut = max(e["id"] for e in parsed(cli, "events", "list", "--json")["events"])
    with freeze_time("2025-10-10 10:00:00"):
        cli("stack", "state", "set", "app", "a=2")
        cli("stack", "snapshot", "create", "app")
        cli("stack", "lock", "release", "db")
        cli("stack", "destroy", "db", "--yes")
    by_event = tmp_path / "by-event.db"
    result = cli("projections", "rebuild", "--until-event", str(cut), "--into", str(by_event))
    assert result.exit_code == 0, result.stderr
    assert read_model_dump(by_event) == then
    by_time = tmp_path / "by-time.db"
    assert cli("projections", "rebuild", "--until", "2025-10-10T09:30:00Z", "--into",
               str(by_time)).exit_code == 0
    assert read_model_dump(by_time) == then
    # Every read command opens the point-in-time database.
    past = CliRunnerAt(by_time)
    assert past("stack", "list", "--json")["total"] == 2
    assert past("stack", "lock", "status", "db", "--json")["lock"]["locked_by"] == "tester@test"
    assert past("stack", "snapshot", "list", "app", "--json")["total"] == 1
    # The live database is untouched.
    assert parsed(cli, "stack", "list", "--all", "--json")["total"] == 2


def CliRunnerAt(path: Path):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli.main import app

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = CliRunner().invoke(app, ["--db", str(path), *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    return run


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["show", "app", "v0"], 4, "has no snapshot v0"),
    (["show", "app", "--", "-1"], 2, "invalid version '-1'"),
    (["show", "app", "vx"], 2, "invalid version 'vx'"),
    (["show", "app", "v3"], 4, "has no snapshot v3"),
    (["show", "app", "v1"], 4, "was deleted at"),
    (["restore", "app", "v2", "--yes"], 4, "has no snapshot v2"),
    (["restore", "app", "v1", "--yes"], 4, "was deleted at"),
    (["delete", "app", "v0", "--yes"], 4, "has no snapshot v0"),
    (["compare", "app", "v1", "current"], 4, "was deleted at"),
    (["prune", "app", "--keep", "-1"], 2, "invalid --keep -1"),
    (["prune", "app", "--older-than", "soon"], 2, "invalid --older-than 'soon'"),
    (["prune"], 2, "give a STACK or --all"),
    (["list", "nope"], 4, "stack 'nope' not found"),
    (["create", "nope"], 4, "stack 'nope' not found"),
])
def test_bad_snapshot_input(cli: CliRun, db_path: Database, args: list[str], code: int,
                            fragment: str) -> None:
    cli("stack", "create", "app")
    cli("stack", "create", "other")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "snapshot", "delete", "app", "v1", "--yes")
    for _ in range(3):
        cli("stack", "snapshot", "create", "other")  # v3 exists, but on another stack
    before = event_count(db_path)
    result = cli("stack", "snapshot", *args)
    assert result.exit_code == code, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr
    assert event_count(db_path) == before


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["stack", "show", "app", "--at", "yesterday"], 2, "invalid --at 'yesterday'"),
    (["stack", "show", "app", "--at", "2001-01-01"], 4, "did not exist yet"),
    (["stack", "show", "app", "--at-event", "0"], 2, "event ids start at 1"),
    (["stack", "history", "app", "--limit", "0"], 2, "invalid --limit 0"),
    (["projections", "rebuild", "--until-event", "3"], 2, "need --into"),
    (["projections", "rebuild", "--until", "nope", "--into", "x.db"], 2, "invalid --until"),
])
def test_bad_time_travel_input(cli: CliRun, db_path: Database, args: list[str], code: int,
                               fragment: str) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    result = cli(*args)
    assert result.exit_code == code, result.stderr
    assert fragment in result.stderr
    assert event_count(db_path) == before


def test_rebuild_into_refuses_an_existing_file(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    existing = tmp_path / "existing.db"
    existing.write_text("keep me")
    result = cli("projections", "rebuild", "--until-event", "1", "--into", str(existing))
    assert result.exit_code == 5
    assert existing.read_text() == "keep me"


def test_rebuild_into_a_fresh_runtime_path_works_for_a_second_database(
        runtime: Runtime, tmp_path: Path) -> None:
    runtime.service().create_stack(CreateStack(stack="x"), invocation())
    other = Runtime(Settings(db_path=tmp_path / "second.db"))
    try:
        assert other.reader().execute("SELECT COUNT(*) FROM stacks").fetchone()[0] == 0
    finally:
        other.close()


def test_snapshots_capture_compare_and_restore_dependencies(cli: CliRun) -> None:
    for name in ("db", "cache"):
        cli("stack", "create", name)
    cli("stack", "create", "app", "--depends-on", "db")
    cli("stack", "snapshot", "create", "app")
    cli("stack", "deps", "add", "app", "cache")
    cli("stack", "deps", "remove", "app", "db")
    shown = parsed(cli, "stack", "snapshot", "show", "app", "v1", "--json")
    assert shown["state"]["dependencies"] == ["db"]
    diff = parsed(cli, "stack", "snapshot", "compare", "app", "v1", "current", "--json")
    assert [c["key"] for c in diff["dependencies"]["added"]] == ["cache"]
    assert [c["key"] for c in diff["dependencies"]["removed"]] == ["db"]
    assert "+ cache" in cli("stack", "snapshot", "compare", "app", "v1", "current").stdout
    assert cli("stack", "snapshot", "restore", "app", "v1", "--yes").exit_code == 0
    shown_deps = parsed(cli, "stack", "deps", "show", "app", "--json")["stacks"]
    assert [d["name"] for d in shown_deps] == ["db"]
