"""`sloth-runner tokens`: the secret is shown once and kept nowhere."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRun, event_count, stored_bytes


def test_create_prints_the_secret_once_and_stores_only_its_digest(cli: CliRun,
                                                                    db_path: Path) -> None:
    made = cli("tokens", "create", "ci", "--read-only", "--stack", "prod-*", "--json")
    assert made.exit_code == 0, made.output
    document = json.loads(made.stdout)
    secret = document["token"]
    assert secret.startswith("slr_") and len(secret) > 40
    assert document["read_only"] is True and document["stacks"] == ["prod-*"]
    stored = stored_bytes(db_path)
    assert secret.encode() not in stored
    listed = cli("tokens", "list")
    assert "ci" in listed.stdout and "read-only" in listed.stdout and "prod-*" in listed.stdout
    assert secret not in listed.stdout
    events = json.loads(cli("events", "list", "--type", "token.*", "--json").stdout)["events"]
    assert [e["type"] for e in events] == ["token.created"]
    assert secret not in json.dumps(events)


def test_human_output_names_the_token_and_warns_it_is_shown_once(cli: CliRun) -> None:
    made = cli("tokens", "create", "deploy")
    assert made.exit_code == 0
    assert "Token 'deploy' created (read-write; every stack)" in made.stdout
    assert "only time it is shown" in made.stdout


def test_revoke_hides_a_token_from_the_list_and_twice_is_a_conflict(cli: CliRun) -> None:
    cli("tokens", "create", "ci")
    assert cli("tokens", "revoke", "ci").exit_code == 0
    assert "No tokens" in cli("tokens", "list").stdout
    assert "ci" in cli("tokens", "list", "--all").stdout
    again = cli("tokens", "revoke", "ci")
    assert again.exit_code == 5 and "already revoked" in again.stderr
    assert cli("tokens", "revoke", "ghost").exit_code == 4
    # A revoked name can be made again, with a new secret.
    assert cli("tokens", "create", "ci").exit_code == 0


def test_bad_input_is_exit_2_and_records_nothing(cli: CliRun, db_path: Path) -> None:
    cli("tokens", "create", "ci")
    before = event_count(db_path)
    for args in (["create", "bad name"], ["create", "ok", "--stack", "a b"],
                 ["create", "ok", "--stack", ""]):
        result = cli("tokens", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    existing = cli("tokens", "create", "ci")
    assert existing.exit_code == 5 and "already exists" in existing.stderr
    assert event_count(db_path) == before
