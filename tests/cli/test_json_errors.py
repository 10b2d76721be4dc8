"""Under --json an error is one JSON object on stderr; scripts never parse prose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun, Database, ProcRun, event_count

LOCK_FIELDS = {"lock_id", "locked_by", "operation", "reason", "locked_at", "expires_at",
               "generation"}


def json_error(result: Any, exit_code: int) -> dict[str, Any]:
    """The one JSON object on stderr, checked against the exit code."""
    code = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert code == exit_code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    error: dict[str, Any] = json.loads(lines[0])["error"]
    assert error["exit_code"] == exit_code
    assert error["message"]
    return error


@pytest.mark.parametrize("where", ["global", "command"])
def test_not_found(cli: CliRun, where: str) -> None:
    args = ["stack", "show", "nope"]
    args = ["--json", *args] if where == "global" else [*args, "--json"]
    error = json_error(cli(*args), 4)
    assert error == {"code": "not_found", "exit_code": 4,
                     "message": "stack 'nope' not found", "stack": "nope"}


def test_invalid_input_and_conflict(cli: CliRun, db_path: Database) -> None:
    assert json_error(cli("--json", "stack", "create", "bad name"), 2)["code"] == "invalid_input"
    cli("stack", "create", "app")
    error = json_error(cli("--json", "stack", "create", "app"), 5)
    assert (error["code"], error["stack"]) == ("conflict", "app")
    assert event_count(db_path) == 1


def test_a_lock_conflict_carries_the_holders_lock(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app", "--operation", "deploy", "--reason", "release 7",
        env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    refused = cli("--json", "stack", "state", "set", "app", "a=1",
                  env={"SLOTH_RUNNER_ACTOR": "mallory@m"})
    error = json_error(refused, 3)
    assert error["code"] == "locked"
    lock = error["lock"]
    assert set(lock) >= LOCK_FIELDS
    assert (lock["locked_by"], lock["operation"], lock["reason"], lock["generation"]) == (
        "deploy-bot", "deploy", "release 7", 1)
    status = json.loads(cli("stack", "lock", "status", "app", "--json").stdout)["lock"]
    assert (lock["lock_id"], lock["locked_at"], lock["expires_at"]) == (
        status["lock_id"], status["locked_at"], status["expires_at"])


def test_a_check_that_fails_is_check_failed(cli: CliRun) -> None:
    cli("stack", "create", "a")
    cli("stack", "create", "b", "--depends-on", "a")
    error = json_error(cli("--json", "stack", "deps", "add", "a", "b"), 1)
    assert error["code"] == "check_failed"
    assert "cycle" in error["message"]


@pytest.mark.parametrize("args", [
    ["--json", "stack", "show"],                          # a missing argument
    ["--json", "stack", "list", "--frobnicate"],          # an unknown option
    ["stack", "show", "app", "--at-event", "x", "--json"],  # not an integer
    ["stack", "history", "app", "--limit", "99999999999999999999", "--json"],
    ["--json", "stack", "frobnicate"],                    # an unknown command
])
def test_usage_errors_from_the_parser(cli: CliRun, args: list[str]) -> None:
    error = json_error(cli(*args), 2)
    assert error["code"] == "invalid_input"
    assert error["command"].startswith("sloth-runner")


def test_usage_errors_through_the_console_script(proc: ProcRun) -> None:
    plain = proc("stack", "show")
    assert plain.returncode == 2
    assert plain.stderr == ("error: Missing argument 'name'. "
                            "(see 'sloth-runner stack show --help')\n")
    error = json_error(proc("--json", "stack", "show"), 2)
    assert error["message"] == "Missing argument 'name'."


def test_internal_errors_are_one_object_too(cli: CliRun,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("projections.queries.stacks.list_stacks", broken)
    error = json_error(cli("--json", "stack", "list"), 70)
    assert error["code"] == "internal"
    assert "disk on fire" in error["message"]


def test_a_graph_printed_under_json_is_json(cli: CliRun, tmp_path: Path) -> None:
    cli("stack", "create", "app")
    assert json.loads(cli("--json", "stack", "deps", "graph", "app").stdout)["root"] == "app"
    for format_name in ("dot", "mermaid", "tree"):
        error = json_error(cli("--json", "stack", "deps", "graph", "app", "--format",
                               format_name), 2)
        assert "--json" in error["message"]
    written = cli("--json", "stack", "deps", "graph", "app", "--output",
                  str(tmp_path / "g.dot"))
    assert json.loads(written.stdout)["format"] == "dot"


def test_every_printing_command_prints_json(cli: CliRun, tmp_path: Path) -> None:
    resources = tmp_path / "resources.yaml"
    resources.write_text(f"resources:\n  - name: data\n    type: directory\n"
                         f"    path: {tmp_path / 'data'}\n")
    for args in (["stack", "create", "app"], ["stack", "create", "web", "--depends-on", "app"],
                 ["stack", "state", "set", "app", "a=1"], ["stack", "snapshot", "create", "app"],
                 ["stack", "resources", "apply", "app", "-f", str(resources)]):
        assert cli(*args).exit_code == 0
    commands = [
        ["stack", "list"], ["stack", "show", "app"], ["stack", "show", "app", "--at-event", "1"],
        ["stack", "history", "app"], ["stack", "output", "app"], ["stack", "state", "list", "app"],
        ["stack", "state", "get", "app", "a"], ["stack", "lock", "status", "app"],
        ["stack", "lock", "list"], ["stack", "snapshot", "list", "app"],
        ["stack", "snapshot", "show", "app", "v1"],
        ["stack", "snapshot", "compare", "app", "v1", "current"],
        ["stack", "snapshot", "restore", "app", "v1", "--dry-run"],
        ["stack", "snapshot", "prune", "app", "--dry-run"],
        ["stack", "deps", "show", "web"], ["stack", "deps", "graph", "--all"],
        ["stack", "deps", "check", "web"], ["stack", "deps", "order", "--all"],
        ["stack", "validate", "app"], ["stack", "resources", "list", "app"],
        ["stack", "resources", "show", "app", "data"], ["stack", "drift", "detect", "app"],
        ["stack", "drift", "show", "app"], ["stack", "drift", "fix", "app", "--dry-run"],
        ["events", "list"], ["projections", "status"],
        ["stack", "lock", "acquire", "app"], ["stack", "lock", "renew", "app"],
        ["stack", "lock", "release", "app"], ["stack", "update", "app", "-d", "x"],
    ]
    for args in commands:
        result = cli("--json", *args)
        assert result.exit_code in (0, 1), (args, result.stderr)
        json.loads(result.stdout)
    exported = cli("--json", "events", "export")
    assert all(json.loads(line) for line in exported.stdout.splitlines())


def test_an_interrupt_is_reported_as_interrupted(cli: CliRun,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("projections.queries.stacks.list_stacks", interrupted)
    error = json_error(cli("--json", "stack", "list"), 130)
    assert error["code"] == "interrupted"
    plain = cli("stack", "list")
    assert plain.exit_code == 130
    assert plain.stderr == "error: interrupted; what was done before is recorded\n"


def test_warnings_on_stderr_are_json_under_json(cli: CliRun) -> None:
    assert cli("stack", "create", "a", "--depends-on", "b").exit_code == 0
    created = cli("--json", "stack", "create", "b", "--depends-on", "a")
    assert created.exit_code == 0, created.stderr
    (line,) = created.stderr.strip().splitlines()
    assert json.loads(line) == {"warning": {"message": "dependency cycle a -> b -> a (see: "
                                            "sloth-runner stack deps check b)"}}
    plain = cli("stack", "create", "c", "--depends-on", "c2")
    assert plain.stderr == ""
