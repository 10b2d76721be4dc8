"""`--json` output parses and keeps its field names (tooling depends on them)."""

from __future__ import annotations

import json

from tests.conftest import CliRun

OUTCOME = {"stack", "stack_id", "version", "events"}
STACK_SUMMARY = {"id", "name", "description", "status", "version", "created_at", "updated_at",
                 "last_execution", "last_duration_ms", "execution_count"}
STACK_DETAIL = STACK_SUMMARY | {"created_by", "updated_by", "event_version", "incarnation",
                                "destroyed_at", "values", "outputs", "lock_status", "lock",
                                "last_run"}
EVENT = {"id", "stack_id", "stack", "stack_version", "type", "severity", "message", "source",
         "actor", "correlation_id", "timestamp", "data"}
PROJECTION = {"name", "version", "position", "head", "lag", "updated_at"}


def parsed(cli: CliRun, *args: str) -> object:
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_field_names_are_stable(cli: CliRun) -> None:
    created = parsed(cli, "stack", "create", "app", "--json")
    assert set(created) == OUTCOME | {"recreated", "dependencies"}  # type: ignore[arg-type]
    assert set(parsed(cli, "stack", "state", "set", "app", "a=1", "--json")) == OUTCOME | {"changed"}  # type: ignore[arg-type]
    assert set(parsed(cli, "stack", "state", "unset", "app", "a", "--json")) == OUTCOME | {"deleted"}  # type: ignore[arg-type]
    assert set(parsed(cli, "stack", "output", "app", "--set", "o=1", "--json")) == OUTCOME | {  # type: ignore[arg-type]
        "changed", "deleted"}
    listing = parsed(cli, "stack", "list", "--json")
    assert set(listing) == {"stacks", "total"}  # type: ignore[arg-type]
    assert set(listing["stacks"][0]) == STACK_SUMMARY  # type: ignore[index]
    assert set(parsed(cli, "stack", "show", "app", "--json")) == STACK_DETAIL  # type: ignore[arg-type]
    events = parsed(cli, "events", "list", "--json")
    assert set(events["events"][0]) == EVENT  # type: ignore[index]
    status = parsed(cli, "projections", "status", "--json")
    assert set(status["projections"][0]) == PROJECTION  # type: ignore[index]
    assert set(parsed(cli, "projections", "rebuild", "--json")) == {"events", "seconds", "into"}  # type: ignore[arg-type]
    destroyed = parsed(cli, "stack", "destroy", "app", "--yes", "--json")
    assert destroyed["events"] == ["stack.destroyed"]  # type: ignore[index]


def test_global_json_flag_works_too(cli: CliRun) -> None:
    cli("stack", "create", "app")
    result = cli("--json", "stack", "list")
    assert json.loads(result.stdout)["total"] == 1
