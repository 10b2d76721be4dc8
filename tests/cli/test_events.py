"""`sloth-runner events`: the audit log, filtered and exported."""

from __future__ import annotations

import json

from freezegun import freeze_time

from tests.conftest import CliRun, Database, event_count


def build_history(cli: CliRun) -> None:
    with freeze_time("2025-10-10 09:00:00"):
        cli("stack", "create", "web", env={"SLOTH_RUNNER_ACTOR": "alice@a"})
    with freeze_time("2025-10-10 10:00:00"):
        cli("stack", "state", "set", "web", "a=1", env={"SLOTH_RUNNER_ACTOR": "bob@b"})
    with freeze_time("2025-10-10 11:00:00"):
        cli("stack", "create", "db", env={"SLOTH_RUNNER_ACTOR": "alice@a"})
        cli("stack", "output", "db", "--set", "dsn=pg://x", env={"SLOTH_RUNNER_ACTOR": "alice@a"})
    with freeze_time("2025-10-10 12:00:00"):
        cli("stack", "destroy", "web", "--yes", env={"SLOTH_RUNNER_ACTOR": "bob@b"})


def types(cli: CliRun, *args: str) -> list[str]:
    result = cli("events", "list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [e["type"] for e in json.loads(result.stdout)["events"]]


def test_filters(cli: CliRun) -> None:
    build_history(cli)
    assert types(cli) == ["stack.created", "state.set", "stack.created", "output.set",
                          "stack.destroyed"]
    assert types(cli, "--stack", "web") == ["stack.created", "state.set", "stack.destroyed"]
    assert types(cli, "--type", "stack.*") == ["stack.created", "stack.created", "stack.destroyed"]
    assert types(cli, "--actor", "bob@b") == ["state.set", "stack.destroyed"]
    assert types(cli, "--since", "2025-10-10T10:00:00Z", "--until", "2025-10-10T11:00:00") == [
        "state.set", "stack.created", "output.set"]
    assert types(cli, "--since", "2025-10-10T12:30:00+02:00") == [
        "stack.created", "output.set", "stack.destroyed"]
    assert types(cli, "--limit", "2") == ["output.set", "stack.destroyed"]


def test_type_patterns_match_as_shell_globs_case_sensitively(cli: CliRun) -> None:
    build_history(cli)
    assert types(cli, "--type", "stack.?reated") == ["stack.created", "stack.created"]
    assert types(cli, "--type", "[os]*.set") == ["state.set", "output.set"]
    assert types(cli, "--type", "*.de*") == ["stack.destroyed"]
    assert types(cli, "--type", "state.set") == ["state.set"]
    assert types(cli, "--type", "STACK.*") == []
    assert types(cli, "--type", "lock.*") == []
    assert types(cli, "--type", "%") == []  # neither LIKE's wildcard nor an error
    assert types(cli, "--type", "*", "--limit", "1") == ["stack.destroyed"]


def test_human_listing_has_one_line_summaries(cli: CliRun) -> None:
    build_history(cli)
    result = cli("events", "list", "--stack", "db")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "STACK", "TYPE", "ACTOR", "MESSAGE"]
    assert "2025-10-10 11:00:00" in lines[2]
    assert "output 'dsn' set to \"pg://x\"" in lines[3]
    assert lines[-1] == "Total: 2 events"


def test_bad_filters(cli: CliRun, db_path: Database) -> None:
    build_history(cli)
    before = event_count(db_path)
    for args, code in ((["--since", "yesterday"], 2), (["--limit", "0"], 2),
                       (["--stack", "../x"], 2), (["--stack", "never"], 4)):
        result = cli("events", "list", *args)
        assert result.exit_code == code, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert event_count(db_path) == before


def test_export_is_json_lines_of_every_stored_field_in_log_order(cli: CliRun, db_path: Database) -> None:
    build_history(cli)
    result = cli("events", "export")
    assert result.exit_code == 0
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(documents) == event_count(db_path)
    assert [d["position"] for d in documents] == sorted(d["position"] for d in documents)
    first = documents[0]
    assert set(first) == {"position", "stack_id", "stack", "stack_version", "type", "timestamp",
                          "actor", "source", "correlation_id", "data"}
    assert first["data"] == {"originator_topic": "stack", "name": "web", "description": ""}
    assert first["timestamp"].startswith("2025-10-10T09:00:00")
    web = [json.loads(line) for line in cli("events", "export", "--stack", "web").stdout.splitlines()]
    assert [d["type"] for d in web] == ["stack.created", "state.set", "stack.destroyed"]
    assert {d["stack"] for d in web} == {"web"}
