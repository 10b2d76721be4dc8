"""`sloth-runner stack ...` end to end through typer's runner."""

from __future__ import annotations

import json

from tests.conftest import CliRun, Database, event_count


def test_create_list_show(cli: CliRun) -> None:
    assert cli("stack", "create", "production-stack", "--description", "Prod").exit_code == 0
    assert cli("stack", "create", "dev-stack").exit_code == 0
    listing = cli("stack", "list")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert lines[0] == "Workflow Stacks"
    assert lines[2].split() == ["NAME", "STATUS", "LAST", "RUN", "DURATION", "EXECUTIONS"]
    assert lines[3].split() == ["----", "------", "--------", "--------", "----------"]
    assert lines[4].split()[:2] == ["dev-stack", "created"]
    assert lines[5].split()[:2] == ["production-stack", "created"]
    assert lines[-1] == "Total: 2 stacks"
    shown = cli("stack", "show", "production-stack")
    assert "Description:   Prod" in shown.stdout
    assert "Status:        created" in shown.stdout


def test_state_values_round_trip(cli: CliRun) -> None:
    cli("stack", "create", "app")
    result = cli("stack", "state", "set", "app", "version=v2.0.0", "replicas:=3", 'cfg:={"a": [1]}')
    assert result.exit_code == 0, result.stderr
    assert cli("stack", "state", "get", "app", "version").stdout == "v2.0.0\n"
    assert json.loads(cli("stack", "state", "get", "app", "cfg").stdout) == {"a": [1]}
    assert json.loads(cli("stack", "state", "list", "app", "--json").stdout) == {
        "cfg": {"a": [1]}, "replicas": 3, "version": "v2.0.0"}
    assert cli("stack", "state", "unset", "app", "replicas", "cfg").exit_code == 0
    assert json.loads(cli("stack", "state", "list", "app", "--json").stdout) == {"version": "v2.0.0"}


def test_setting_the_same_values_again_appends_nothing(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1")
    before = event_count(db_path)
    result = cli("stack", "state", "set", "app", "a=1")
    assert result.exit_code == 0
    assert "No change" in result.stdout
    assert event_count(db_path) == before


def test_outputs_set_show_unset(cli: CliRun) -> None:
    cli("stack", "create", "app")
    assert cli("stack", "output", "app", "--set", "url=http://app", "--set", "port:=8080").exit_code == 0
    assert cli("stack", "output", "app", "url").stdout == "http://app\n"
    assert json.loads(cli("stack", "output", "app", "--json").stdout) == {
        "port": 8080, "url": "http://app"}
    assert cli("stack", "output", "app", "--unset", "url").exit_code == 0
    assert json.loads(cli("stack", "output", "app", "--json").stdout) == {"port": 8080}
    missing = cli("stack", "output", "app", "url")
    assert missing.exit_code == 4
    assert "output 'url' not found" in missing.stderr


def test_destroy_hides_refuses_and_can_be_created_again(cli: CliRun) -> None:
    cli("stack", "create", "app", "-d", "first")
    cli("stack", "state", "set", "app", "a=1")
    assert cli("stack", "destroy", "app", "--yes").exit_code == 0
    assert "app" not in cli("stack", "list").stdout
    assert "destroyed" in cli("stack", "list", "--all").stdout
    refused = cli("stack", "state", "set", "app", "a=2")
    assert refused.exit_code == 5
    assert "destroyed" in refused.stderr
    assert cli("stack", "destroy", "app", "--yes").exit_code == 5
    assert cli("stack", "create", "app", "-d", "second").exit_code == 0
    shown = json.loads(cli("stack", "show", "app", "--json").stdout)
    assert (shown["status"], shown["values"], shown["incarnation"]) == ("created", {}, 2)
    history = json.loads(cli("events", "list", "--stack", "app", "--json").stdout)["events"]
    assert [e["type"] for e in history] == [
        "stack.created", "state.set", "stack.destroyed", "stack.created"]


def test_destroy_without_a_terminal_and_without_yes_refuses(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    result = cli("stack", "destroy", "app", input="y\n")
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert event_count(db_path) == before


def test_create_of_an_existing_stack_is_a_conflict(cli: CliRun) -> None:
    cli("stack", "create", "app")
    result = cli("stack", "create", "app")
    assert result.exit_code == 5
    assert result.stderr.strip() == "error: stack 'app' already exists"


def test_update_description(cli: CliRun) -> None:
    cli("stack", "create", "app", "-d", "old")
    assert cli("stack", "update", "app", "-d", "new").exit_code == 0
    assert json.loads(cli("stack", "show", "app", "--json").stdout)["description"] == "new"
    assert "unchanged" in cli("stack", "update", "app", "-d", "new").stdout


def test_actor_comes_from_the_environment(cli: CliRun) -> None:
    cli("stack", "create", "app", env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    events = json.loads(cli("events", "list", "--json").stdout)["events"]
    assert events[0]["actor"] == "deploy-bot"
    assert events[0]["source"] == "cli"


def test_one_invocation_shares_one_correlation_id(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1", "b=2", "c=3")
    events = json.loads(cli("events", "list", "--type", "state.*", "--json").stdout)["events"]
    assert len({e["correlation_id"] for e in events}) == 1
    create = json.loads(cli("events", "list", "--type", "stack.created", "--json").stdout)["events"]
    assert create[0]["correlation_id"] != events[0]["correlation_id"]
