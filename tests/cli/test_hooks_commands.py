"""`sloth-runner hooks ...`: managing hooks, reading deliveries, sending again, bad input."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.cli.test_bad_input import assert_refused
from tests.conftest import CliRun, event_count


def audit_hook(cli: CliRun, out: Path, *extra: str, name: str = "audit") -> None:
    result = cli("hooks", "add", name, "--on", "*", "--run",
                 f"sh -c {shlex.quote(f'cat >> {out}')}", *extra)
    assert result.exit_code == 0, result.stderr


def delivered(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_a_scripted_session_reaches_a_command_hook_event_by_event_in_order(
        cli: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    audit_hook(cli, out)
    session = [
        ("stack", "create", "app"),
        ("stack", "state", "set", "app", "version=v1", "replicas:=3"),
        ("stack", "lock", "acquire", "app", "--reason", "deploy"),
        ("stack", "output", "app", "--set", "url=https://app"),
        ("stack", "snapshot", "create", "app", "--description", "before"),
        ("stack", "lock", "release", "app"),
        ("stack", "state", "unset", "app", "replicas"),
        ("stack", "destroy", "app", "--yes"),
    ]
    for command in session:
        result = cli(*command)
        assert result.exit_code == 0, (command, result.stderr)
    exported = [json.loads(line) for line in cli("events", "export").stdout.splitlines()]
    after_hook = [event for event in exported if event["position"] > exported[0]["position"]]
    seen = delivered(out)
    assert [event["position"] for event in seen] == [event["position"] for event in after_hook]
    assert [event["type"] for event in seen] == [
        "stack.created", "state.set", "state.set", "lock.acquired", "output.set",
        "snapshot.created", "lock.released", "state.deleted", "stack.destroyed"]
    assert all(event["delivery_id"] == f"audit:{event['position']}" for event in seen)
    listing = cli("hooks", "deliveries", "audit", "--json")
    assert json.loads(listing.stdout)["total"] == 9


def test_add_list_show_disable_enable_remove(cli: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    audit_hook(cli, out, "--stack", "prod-*", "--timeout", "30s", "--retries", "2")
    listing = json.loads(cli("hooks", "list", "--json").stdout)
    (hook,) = listing["hooks"]
    assert (hook["name"], hook["source"], hook["state"], hook["stacks"], hook["timeout_ms"],
            hook["retries"]) == ("audit", "events", "enabled", ["prod-*"], 30_000, 2)
    shown = cli("hooks", "show", "audit")
    assert "Stacks:       prod-*" in shown.stdout
    assert cli("hooks", "disable", "audit").stdout.strip().endswith("Hook 'audit' disabled")
    assert "already" in cli("hooks", "disable", "audit").stdout
    cli("stack", "create", "prod-web")
    assert delivered(out) == []  # paused
    cli("hooks", "enable", "audit")
    assert cli("events", "process").exit_code == 0  # what it missed while paused
    assert [(event["type"], event["stack"]) for event in delivered(out)] == [
        ("stack.created", "prod-web")]
    assert cli("hooks", "remove", "audit").exit_code == 0
    assert json.loads(cli("hooks", "list", "--json").stdout)["total"] == 0
    assert cli("hooks", "deliveries", "audit").exit_code == 0  # still readable
    types = [json.loads(line)["type"] for line in cli("events", "export").stdout.splitlines()]
    assert types.count("hook.added") == 1
    assert types[-1] == "hook.removed"
    listed = cli("events", "list", "--type", "hook.*").stdout
    assert "hook 'audit' removed" in listed


def test_a_hook_added_again_after_removal_starts_from_its_new_addition(
        cli: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    audit_hook(cli, out)
    cli("hooks", "remove", "audit")
    cli("stack", "create", "missed")
    audit_hook(cli, out)
    cli("stack", "create", "seen")
    stacks = [event["stack"] for event in delivered(out) if event["type"] == "stack.created"]
    assert stacks == ["seen"]


def test_test_delivers_a_synthetic_event_without_recording_it(cli: CliRun,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    audit_hook(cli, out)
    result = cli("hooks", "test", "audit", "--event", "lock.acquired", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["ok"], document["exit_code"], document["delivery_id"]) == (
        True, 0, "audit:test")
    (sent,) = delivered(out)
    assert (sent["type"], sent["synthetic"], sent["position"]) == ("lock.acquired", True, 0)
    assert json.loads(cli("hooks", "deliveries", "audit", "--json").stdout)["total"] == 0


def test_a_failing_test_delivery_exits_1(cli: CliRun) -> None:
    cli("hooks", "add", "broken", "--on", "*", "--run", "sh -c 'echo nope >&2; exit 4'")
    result = cli("hooks", "test", "broken")
    assert result.exit_code == 1
    assert "exit 4: nope" in result.stdout


def test_failed_deliveries_are_listed_and_sent_again(cli: CliRun, tmp_path: Path) -> None:
    gate = tmp_path / "open"
    cli("hooks", "add", "gated", "--on", "state.set", "--retries", "0", "--run",
        f"test -e {gate}")
    cli("stack", "create", "app")
    result = cli("stack", "state", "set", "app", "a=1")
    assert result.exit_code == 0
    assert "delivery gated:" in result.stderr and "recorded as failed" in result.stderr
    failed = json.loads(cli("hooks", "deliveries", "gated", "--failed", "--json").stdout)
    (row,) = failed["deliveries"]
    assert (row["status"], row["attempts"], row["exit_code"]) == ("failed", 1, 1)
    assert cli("hooks", "retry", "gated", "--all-failed").exit_code == 1
    gate.touch()
    again = cli("hooks", "retry", "gated", "--delivery", row["delivery_id"])
    assert again.exit_code == 0, again.stderr
    assert "delivered" in again.stdout
    (row,) = json.loads(cli("hooks", "deliveries", "gated", "--json").stdout)["deliveries"]
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert cli("hooks", "retry", "gated", "--all-failed").stdout.strip() == "No failed deliveries."


def test_config_hooks_are_listed_with_their_source(cli: CliRun, tmp_path: Path,
                                                   db_path: Path) -> None:
    out = tmp_path / "from-config.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text("hooks:\n  definitions:\n    from-file:\n"
                      f"      on: state.*\n      run: [sh, -c, 'cat >> {out}']\n")
    base = ("--config", str(config))
    listing = json.loads(cli(*base, "hooks", "list", "--json").stdout)
    assert [(h["name"], h["source"], h["state"]) for h in listing["hooks"]] == [
        ("from-file", "config", "enabled")]
    cli(*base, "stack", "create", "app")
    cli(*base, "stack", "state", "set", "app", "a=1")
    assert [event["type"] for event in delivered(out)] == ["state.set"]
    before = event_count(db_path)
    assert_refused(cli(*base, "hooks", "remove", "from-file"), 2, db_path, before,
                   fragment="declared in the config file")
    assert_refused(cli(*base, "hooks", "add", "from-file", "--on", "*", "--run", "true"), 5,
                   db_path, before, fragment="already exists")


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("--on", "*"), 2, "give one action"),
    (("--run", "true"), 2, "needs at least one event type"),
    (("--on", "*", "--run", "true", "--url", "http://x"), 2, "not --run and --url"),
    (("--on", "*", "--url", "ftp://host/x"), 2, "http:// or https://"),
    (("--on", "*", "--url", "https://u:p@host/x"), 2, "credentials"),
    (("--on", "*", "--run", "true", "--secret-env", "S"), 2, "--secret-env goes with --url"),
    (("--on", "*", "--run", "true", "--retries", "many"), 2, "Invalid value for '--retries'"),
    (("--on", "*", "--run", "true", "--retries", "101"), 2, "--retries"),
    (("--on", "*", "--run", "true", "--timeout", "soon"), 2, "invalid --timeout"),
    (("--on", "a b", "--run", "true"), 2, "invalid event type glob"),
    (("--on", "*", "--run", ""), 2, "the command is empty"),
    (("--on", "*", "--lua", "nowhere.lua:f"), 2, "not found"),
])
def test_bad_hook_definitions_append_nothing(cli: CliRun, db_path: Path,
                                             args: tuple[str, ...], code: int,
                                             fragment: str) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    assert_refused(cli("hooks", "add", "bad", *args), code, db_path, before, fragment=fragment)


def test_an_unknown_lua_function_is_refused(cli: CliRun, db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "hooks.lua"
    script.write_text("function present(event) end\n")
    cli("stack", "create", "app")
    before = event_count(db_path)
    assert_refused(cli("hooks", "add", "l", "--on", "*", "--lua", f"{script}:absent"), 2,
                   db_path, before, fragment="defines no function 'absent'")
    assert cli("hooks", "add", "l", "--on", "*", "--lua", f"{script}:present").exit_code == 0


def test_an_event_type_no_one_records_is_a_warning_not_an_error(cli: CliRun,
                                                                db_path: Path) -> None:
    result = cli("hooks", "add", "plugin", "--on", "plugin.thing.*", "--run", "true")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: --on 'plugin.thing.*' matches no event type")
    assert event_count(db_path) == 1


def test_names_that_exist_or_do_not(cli: CliRun, db_path: Path) -> None:
    cli("hooks", "add", "one", "--on", "*", "--run", "true")
    before = event_count(db_path)
    assert_refused(cli("hooks", "add", "one", "--on", "*", "--run", "true"), 5, db_path, before,
                   fragment="hook 'one' already exists")
    for verb in ("remove", "enable", "disable", "show", "test", "deliveries"):
        assert_refused(cli("hooks", verb, "nope"), 4, db_path, before,
                       fragment="hook 'nope' not found")
    assert_refused(cli("hooks", "add", "-bad", "--on", "*", "--run", "true"), 2, db_path,
                   before)
    assert_refused(cli("hooks", "retry", "one"), 2, db_path, before, fragment="--all-failed")
    assert_refused(cli("hooks", "retry", "one", "--delivery", "other:1"), 2, db_path, before)
    assert_refused(cli("hooks", "retry", "one", "--delivery", "one:999"), 4, db_path, before)


def test_the_secret_itself_is_never_recorded(cli: CliRun) -> None:
    result = cli("hooks", "add", "web", "--on", "*", "--url", "https://example.com/hook",
                 "--secret-env", "HOOK_SECRET", env={"HOOK_SECRET": "do-not-store"})
    assert result.exit_code == 0, result.stderr
    assert "do-not-store" not in cli("events", "export").stdout
    assert '"secret_env":"HOOK_SECRET"' in cli("events", "export").stdout


@pytest.mark.parametrize(("section", "fragment"), [
    ("  workers: 0\n", "hooks.workers"),
    ("  poll_interval: 1ms\n", "hooks.poll_interval: must be from 10ms to 1h"),
    ("  definitions:\n    x:\n      on: '*'\n", "give exactly one of run, url and lua"),
    ("  definitions:\n    x:\n      on: '*'\n      url: ftp://h/x\n", "http:// or https://"),
    ("  definitions:\n    -bad:\n      on: '*'\n      run: 'true'\n", "invalid hook name"),
    ("  definitions:\n    x:\n      on: '*'\n      run: 'true'\n      colour: red\n",
     "hooks.definitions.x.colour: unknown key"),
])
def test_a_bad_hooks_section_is_a_config_error(cli: CliRun, tmp_path: Path, section: str,
                                               fragment: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("hooks:\n" + section)
    result = cli("--config", str(config), "hooks", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: config {config}")
    assert fragment in result.stderr
