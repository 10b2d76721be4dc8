"""`sloth-runner stack lock ...` end to end: usage example 1, enforcement, expiry, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time

from tests.conftest import CliRun, Database, event_count


def lock_id_of(cli: CliRun, stack: str) -> str:
    return json.loads(cli("stack", "lock", "status", stack, "--json").stdout)["lock"]["lock_id"]


def event_types(cli: CliRun, stack: str) -> list[str]:
    result = cli("events", "list", "--stack", stack, "--json")
    return [e["type"] for e in json.loads(result.stdout)["events"]]


def test_usage_example_1(cli: CliRun) -> None:
    cli("stack", "create", "production-stack")
    acquired = cli("stack", "lock", "acquire", "production-stack",
                   "--reason", "Deploying v2.0.0", "--locked-by", "deploy-bot")
    assert acquired.exit_code == 0, acquired.stderr
    assert "Lock acquired for stack 'production-stack'" in acquired.stdout
    status = cli("stack", "lock", "status", "production-stack").stdout.splitlines()
    assert status[:4] == ["Stack: production-stack", "Status: LOCKED", "", "Lock Details:"]
    labels = [line.split(":")[0].strip() for line in status[4:]]
    for label in ("Lock ID", "Locked by", "Locked at", "Operation", "Reason", "Duration",
                  "Expires"):
        assert label in labels
    assert "  Locked by:    deploy-bot" in status
    assert "  Reason:       Deploying v2.0.0" in status
    released = cli("stack", "lock", "release", "production-stack", "--unlocked-by", "deploy-bot")
    assert released.exit_code == 0, released.stderr
    assert cli("stack", "lock", "status", "production-stack").stdout.splitlines() == [
        "Stack: production-stack", "Status: UNLOCKED"]
    assert event_types(cli, "production-stack") == ["stack.created", "lock.acquired",
                                                    "lock.released"]


MUTATIONS = [
    ("stack", "state", "set", "app", "a=2"),
    ("stack", "state", "unset", "app", "a"),
    ("stack", "output", "app", "--set", "o=2"),
    ("stack", "output", "app", "--unset", "o"),
    ("stack", "update", "app", "--description", "changed"),
    ("stack", "destroy", "app", "--yes"),
    ("stack", "destroy", "app", "--yes", "--force"),
    ("stack", "lock", "renew", "app"),
    ("stack", "lock", "release", "app"),
    ("stack", "snapshot", "create", "app"),
    ("stack", "snapshot", "delete", "app", "v1", "--yes"),
    ("stack", "snapshot", "restore", "app", "v1", "--yes"),
    ("stack", "snapshot", "prune", "app", "--older-than", "1s", "--keep", "0"),
    ("stack", "deps", "add", "app", "db"),
    ("stack", "deps", "remove", "app", "cache"),
    ("stack", "resources", "remove", "app", "data"),
]


@pytest.mark.parametrize("command", MUTATIONS, ids=lambda c: " ".join(c[1:3]))
def test_every_mutation_by_someone_else_is_refused_with_the_lock_info(
        cli: CliRun, db_path: Database, tmp_path: Path, command: tuple[str, ...]) -> None:
    resources = tmp_path / "resources.yaml"
    resources.write_text(f"resources:\n  - name: data\n    type: directory\n"
                         f"    path: {tmp_path / 'data'}\n")
    with freeze_time("2020-01-01"):
        cli("stack", "create", "app", "--depends-on", "cache")
        cli("stack", "state", "set", "app", "a=1")
        cli("stack", "output", "app", "--set", "o=1")
        assert cli("stack", "resources", "apply", "app", "-f", str(resources)).exit_code == 0
        cli("stack", "snapshot", "create", "app")
    cli("stack", "lock", "acquire", "app", "--operation", "deploy", "--reason", "release 7",
        env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    before = event_count(db_path)
    result = cli(*command, env={"SLOTH_RUNNER_ACTOR": "mallory@m"})
    assert result.exit_code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "deploy-bot" in lines[0]
    block = "\n".join(lines[1:])
    for field in ("ID:", "Who:", "Operation:  deploy", "Reason:     release 7", "Created:",
                  "Expires:"):
        assert field in block
    assert "Traceback" not in result.stderr
    assert event_count(db_path) == before


@pytest.mark.parametrize("how", ["flag", "env", "actor"])
def test_the_holder_may_change_the_stack(cli: CliRun, how: str) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    lock_id = lock_id_of(cli, "app")
    args, env = {
        "flag": (["--lock-id", lock_id], {"SLOTH_RUNNER_ACTOR": "ci@runner"}),
        "env": ([], {"SLOTH_RUNNER_ACTOR": "ci@runner", "SLOTH_RUNNER_LOCK_ID": lock_id}),
        "actor": ([], {"SLOTH_RUNNER_ACTOR": "deploy-bot"}),
    }[how]
    result = cli("stack", "state", "set", "app", "a=1", *args, env=env)
    assert result.exit_code == 0, result.stderr


def test_destroy_of_a_locked_stack_needs_force_even_for_the_holder(cli: CliRun) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app")
    refused = cli("stack", "destroy", "app", "--yes")
    assert refused.exit_code == 3
    assert "pass --force" in refused.stderr
    assert cli("stack", "destroy", "app", "--yes", "--force").exit_code == 0
    assert event_types(cli, "app")[-2:] == ["lock.released", "stack.destroyed"]
    assert cli("stack", "lock", "status", "app").stdout.splitlines()[1] == "Status: UNLOCKED"


def test_expired_lease_is_shown_and_taken_over_on_record(cli: CliRun) -> None:
    with freeze_time("2025-10-10 14:00:00"):
        cli("stack", "create", "app")
        assert cli("stack", "lock", "acquire", "app", "--ttl", "10m",
                   env={"SLOTH_RUNNER_ACTOR": "crashed-job"}).exit_code == 0
    with freeze_time("2025-10-10 14:09:59"):
        blocked = cli("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "next-job"})
        assert blocked.exit_code == 3
        assert "Status: LOCKED" in cli("stack", "lock", "status", "app").stdout
    with freeze_time("2025-10-10 14:10:00"):
        status = cli("stack", "lock", "status", "app").stdout
        assert "Status: EXPIRED" in status
        assert "(0ms ago)" in status
        # An expired lease protects nothing.
        assert cli("stack", "state", "set", "app", "a=1",
                   env={"SLOTH_RUNNER_ACTOR": "next-job"}).exit_code == 0
        taken = cli("stack", "lock", "acquire", "app", "--json",
                    env={"SLOTH_RUNNER_ACTOR": "next-job"})
        assert taken.exit_code == 0, taken.stderr
        assert json.loads(taken.stdout)["events"] == ["lock.expired", "lock.acquired"]
        assert json.loads(taken.stdout)["lock"]["generation"] == 2
    expired = json.loads(cli("events", "list", "--type", "lock.expired", "--json").stdout)
    assert expired["events"][0]["severity"] == "warning"
    assert "crashed-job" in expired["events"][0]["message"]


def test_renew_moves_the_expiry(cli: CliRun) -> None:
    with freeze_time("2025-10-10 14:00:00"):
        cli("stack", "create", "app")
        cli("stack", "lock", "acquire", "app", "--ttl", "10m")
    with freeze_time("2025-10-10 14:08:00"):
        assert cli("stack", "lock", "renew", "app", "--ttl", "30m").exit_code == 0
    with freeze_time("2025-10-10 14:20:00"):
        status = json.loads(cli("stack", "lock", "status", "app", "--json").stdout)
        assert status["status"] == "LOCKED"
        assert status["lock"]["expires_at"].startswith("2025-10-10T14:38:00")


def test_force_release_is_recorded_with_who_and_why(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app", env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    before = event_count(db_path)
    no_tty = cli("stack", "lock", "force-release", "app", env={"SLOTH_RUNNER_ACTOR": "oncall"})
    assert no_tty.exit_code == 2
    assert "pass --yes" in no_tty.stderr
    assert event_count(db_path) == before
    forced = cli("stack", "lock", "force-unlock", "app", "--yes", "--reason", "bot crashed",
                 env={"SLOTH_RUNNER_ACTOR": "oncall"})
    assert forced.exit_code == 0, forced.stderr
    event = json.loads(cli("events", "list", "--type", "lock.force_released",
                           "--json").stdout)["events"][0]
    assert (event["actor"], event["severity"]) == ("oncall", "warning")
    assert event["data"]["holder"] == "deploy-bot"
    assert event["data"]["reason"] == "bot crashed"
    assert "Status: UNLOCKED" in cli("stack", "lock", "status", "app").stdout


def test_lock_list_shows_every_locked_stack(cli: CliRun) -> None:
    for name in ("a", "b", "c"):
        cli("stack", "create", name)
    cli("stack", "lock", "acquire", "a", "--operation", "deploy")
    cli("stack", "lock", "acquire", "c", "--metadata", "ticket=OPS-1")
    listing = json.loads(cli("stack", "lock", "list", "--json").stdout)
    assert [lock["stack"] for lock in listing["locks"]] == ["a", "c"]
    assert listing["locks"][1]["metadata"] == {"ticket": "OPS-1"}
    human = cli("stack", "lock", "list").stdout
    assert human.splitlines()[0].split()[:3] == ["STACK", "STATUS", "LOCKED"]
    assert "Total: 2 locks" in human


def test_auto_lock_wraps_mutations_in_a_lock(cli: CliRun, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_lock: true\n  lock_timeout: 5m\n")
    cli("stack", "create", "app")
    assert cli("--config", str(config), "stack", "state", "set", "app", "a=1").exit_code == 0
    assert event_types(cli, "app")[-3:] == ["lock.acquired", "state.set", "lock.released"]
    assert cli("--config", str(config), "stack", "destroy", "app", "--yes").exit_code == 0
    assert event_types(cli, "app")[-3:] == ["lock.acquired", "lock.released", "stack.destroyed"]
    cli("stack", "create", "held")
    cli("stack", "lock", "acquire", "held", env={"SLOTH_RUNNER_ACTOR": "other"})
    refused = cli("--config", str(config), "stack", "state", "set", "held", "a=1")
    assert refused.exit_code == 3
    # The holder keeps its own lock: no second lock is taken around its change.
    mine = cli("--config", str(config), "stack", "state", "set", "held", "a=1",
               env={"SLOTH_RUNNER_ACTOR": "other"})
    assert mine.exit_code == 0
    assert event_types(cli, "held")[-1] == "state.set"


def test_acquire_json_has_the_lock_id(cli: CliRun) -> None:
    cli("stack", "create", "app")
    document = json.loads(cli("stack", "lock", "acquire", "app", "--json").stdout)
    assert set(document["lock"]) == {"lock_id", "locked_by", "acquired_by_actor", "locked_at",
                                     "expires_at", "operation", "reason", "metadata",
                                     "generation"}


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["--ttl", "abc"], 2, "invalid --ttl 'abc'"),
    (["--ttl", "0"], 2, "invalid --ttl '0'"),
    (["--ttl", "0s"], 2, "must be greater than zero"),
    (["--wait", "-5s"], 2, "invalid --wait '-5s'"),
    (["--metadata", "novalue"], 2, "invalid --metadata 'novalue'"),
])
def test_bad_acquire_input(cli: CliRun, db_path: Database, args: list[str], code: int,
                           fragment: str) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    result = cli("stack", "lock", "acquire", "app", *args)
    assert result.exit_code == code
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[0]]
    assert fragment in result.stderr
    assert event_count(db_path) == before


def test_lock_commands_on_unknown_and_destroyed_stacks(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "gone")
    cli("stack", "destroy", "gone", "--yes")
    before = event_count(db_path)
    for command in (["acquire"], ["release"], ["renew"], ["force-release", "--yes"], ["status"]):
        unknown = cli("stack", "lock", command[0], "nope", *command[1:])
        assert unknown.exit_code == 4, (command, unknown.stderr)
        assert unknown.stderr.startswith("error: stack 'nope' not found")
    for command in (["acquire"], ["release"], ["renew"], ["force-release", "--yes"]):
        destroyed = cli("stack", "lock", command[0], "gone", *command[1:])
        assert destroyed.exit_code == 5, (command, destroyed.stderr)
        assert len(destroyed.stderr.strip().splitlines()) == 1
    assert event_count(db_path) == before


def test_a_forged_lock_id_is_refused(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    cli("stack", "lock", "acquire", "app")
    before = event_count(db_path)
    for command in (["stack", "lock", "release", "app", "--lock-id", "forged"],
                    ["stack", "state", "set", "app", "a=1", "--lock-id", "forged"],
                    ["stack", "lock", "force-release", "app", "--yes", "--lock-id", "forged"]):
        result = cli(*command)
        assert result.exit_code == 3, result.stderr
        assert result.stderr.startswith("error: ")
    assert event_count(db_path) == before


def test_releasing_an_unlocked_stack(cli: CliRun) -> None:
    cli("stack", "create", "app")
    result = cli("stack", "lock", "release", "app")
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: stack 'app' is not locked"
