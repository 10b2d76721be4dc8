"""`sloth-runner stack validate STACK|all` end to end: usage example 5, each check, events."""

from __future__ import annotations

import json
from pathlib import Path

from freezegun import freeze_time

from tests.cli.test_bad_input import assert_refused
from tests.conftest import CliRun, Database, ProcRun, event_count, settings


def validation_events(cli: CliRun, stack: str) -> list[dict[str, object]]:
    events = json.loads(cli("events", "list", "--stack", stack, "--type", "validation.*",
                            "--json").stdout)["events"]
    return events  # type: ignore[no-any-return]


def checks_of(result_stdout: str) -> dict[str, tuple[str, str]]:
    document = json.loads(result_stdout)
    return {c["check"]: (c["status"], c["reason"]) for c in document["checks"]}


def test_usage_example_5(cli: CliRun) -> None:
    cli("stack", "create", "db-stack")
    cli("stack", "create", "production-stack", "--depends-on", "db-stack")
    one = cli("stack", "validate", "production-stack")
    assert one.exit_code == 0, one.stdout + one.stderr
    lines = one.stdout.splitlines()
    assert lines[0] == "Validating stack: production-stack"
    assert "  PASS  stack                       exists (status created)" in lines
    assert "  PASS  dependencies exist          1 checked, none missing" in lines
    assert lines[-1] == "✓ Validation passed (recorded as validation.passed)"
    every = cli("stack", "validate", "all")
    assert every.exit_code == 0, every.stdout
    assert every.stdout.splitlines()[-1] == "Summary: 2 stacks validated: 2 passed, 0 failed"


def test_a_healthy_stack_passes_and_the_outcome_is_recorded(cli: CliRun) -> None:
    cli("stack", "create", "db")
    cli("stack", "create", "app", "--depends-on", "db")
    result = cli("stack", "validate", "app", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert set(document) == {"stack", "passed", "result", "checks", "event"}
    assert set(document["checks"][0]) == {"check", "status", "reason"}
    assert (document["passed"], document["result"], document["event"]) == (
        True, "passed", "validation.passed")
    assert {status for status, _ in checks_of(result.stdout).values()} == {"pass"}
    (event,) = validation_events(cli, "app")
    assert event["type"] == "validation.passed" and event["actor"] == "tester@test"
    assert event["message"] == "validation passed (8 checks)"
    assert [c["check"] for c in event["data"]["checks"]] == [  # type: ignore[index]
        c["check"] for c in document["checks"]]


def test_a_destroyed_dependency_fails_validation(cli: CliRun) -> None:
    cli("stack", "create", "db")
    cli("stack", "create", "app", "--depends-on", "db")
    cli("stack", "destroy", "db", "--yes")
    result = cli("stack", "validate", "app")
    assert result.exit_code == 1
    assert "  FAIL  dependencies not destroyed  'db' is destroyed (required by app)" in (
        result.stdout.splitlines())
    assert result.stdout.splitlines()[-1] == (
        "Validation failed: 1 check failed (recorded as validation.failed)")
    (event,) = validation_events(cli, "app")
    assert event["type"] == "validation.failed" and event["severity"] == "warning"


def test_missing_dependencies_cycles_and_a_destroyed_stack_fail(cli: CliRun) -> None:
    cli("stack", "create", "a", "--depends-on", "b", "--depends-on", "ghost")
    cli("stack", "create", "b", "--depends-on", "a")
    checks = checks_of(cli("stack", "validate", "a", "--json").stdout)
    assert checks["dependencies exist"] == ("fail", "'ghost' does not exist (required by a)")
    assert checks["dependencies acyclic"] == ("fail", "cycle a -> b -> a")
    cli("stack", "destroy", "b", "--yes")
    destroyed = cli("stack", "validate", "b", "--json")
    assert destroyed.exit_code == 1
    assert checks_of(destroyed.stdout)["stack"][0] == "fail"
    assert [e["type"] for e in validation_events(cli, "b")] == ["validation.failed"]


def test_someone_elses_lock_is_a_warning_and_an_expired_one_is_not(cli: CliRun) -> None:
    with freeze_time("2025-10-10 14:00:00"):
        cli("stack", "create", "app")
        cli("stack", "lock", "acquire", "app", "--ttl", "10m", "--operation", "deploy",
            env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
        result = cli("stack", "validate", "app")
        assert result.exit_code == 0
        assert ("  WARN  lock                        locked by deploy-bot (deploy) until "
                "2025-10-10 14:10:00 UTC") in result.stdout.splitlines()
        assert "Validation passed, 1 warning" in result.stdout
        mine = checks_of(cli("stack", "validate", "app", "--json",
                             env={"SLOTH_RUNNER_ACTOR": "deploy-bot"}).stdout)
        assert mine["lock"][0] == "pass"
    with freeze_time("2025-10-10 14:10:00"):
        assert checks_of(cli("stack", "validate", "app", "--json").stdout)["lock"] == (
            "pass", "not locked")


def test_validate_all_summarises_every_stack(cli: CliRun) -> None:
    cli("stack", "create", "db")
    cli("stack", "create", "app", "--depends-on", "db")
    cli("stack", "create", "web", "--depends-on", "app", "--depends-on", "cdn")
    cli("stack", "create", "all")  # `validate all` includes a stack named all
    cli("stack", "create", "gone")
    cli("stack", "destroy", "gone", "--yes")
    result = cli("stack", "validate", "all")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "Validating 4 stacks"
    assert lines[2:8] == [
        "all: passed", "app: passed", "db: passed", "web: FAILED",
        "  FAIL  dependencies exist          'cdn' does not exist (required by web)", ""]
    assert lines[-1] == "Summary: 4 stacks validated: 3 passed, 1 failed"
    document = json.loads(cli("stack", "validate", "all", "--json").stdout)
    assert (document["total"], document["passed"], document["failed"]) == (4, 3, 1)
    assert [s["stack"] for s in document["stacks"]] == ["all", "app", "db", "web"]
    assert len(validation_events(cli, "web")) == 2
    assert validation_events(cli, "gone") == []


def test_validate_all_shows_warnings_under_their_stack_and_counts_them(cli: CliRun) -> None:
    with freeze_time("2025-10-10 14:00:00"):
        cli("stack", "create", "api")
        cli("stack", "create", "app")
        cli("stack", "lock", "acquire", "app", "--ttl", "10m", "--operation", "deploy",
            env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
        result = cli("stack", "validate", "all")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:5] == [
        "api: passed", "app: passed (1 warning)",
        "  WARN  lock                        locked by deploy-bot (deploy) until "
        "2025-10-10 14:10:00 UTC"]
    assert result.stdout.splitlines()[-1] == (
        "Summary: 2 stacks validated: 2 passed, 0 failed, 1 with warnings")


def test_validate_all_with_no_stacks(cli: CliRun) -> None:
    result = cli("stack", "validate", "all")
    assert (result.exit_code, result.stdout) == (0, "No stacks to validate\n")


def test_a_bad_config_file_is_a_failed_check(cli: CliRun, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  lock_timeout: soon\n")
    cli("stack", "create", "app")
    result = cli("--config", str(config), "stack", "validate", "app", "--json")
    assert result.exit_code == 1
    status, reason = checks_of(result.stdout)["config"]
    assert status == "fail" and str(config) in reason and "stacks.lock_timeout" in reason
    config.write_text("stacks:\n  lock_timeout: 2h\n")
    good = checks_of(cli("--config", str(config), "stack", "validate", "app", "--json").stdout)
    assert good["config"] == ("pass", f"{config} is valid")


def test_a_bad_config_file_naming_the_database_is_still_exit_2(proc: ProcRun,
                                                               tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  database_path: {tmp_path / 'x.db'}\n  bogus: 1\n")
    env = {"SLOTH_RUNNER_DB": "", "SLOTH_RUNNER_DATABASE_URL": ""}
    result = proc("--config", str(config), "stack", "validate", "all", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: config ") and "stacks.bogus: unknown key" in result.stderr


def test_unknown_or_invalid_stacks_append_nothing(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "app")
    before = event_count(db_path)
    assert_refused(cli("stack", "validate", "nope"), 4, db_path, before,
                   fragment="stack 'nope' not found")
    assert_refused(cli("stack", "validate", "bad name"), 2, db_path, before,
                   fragment="invalid stack name")


def test_a_stack_with_an_invalid_resource_fails(cli: CliRun, db_path: Database) -> None:
    """A resource declared with a plug-in type that is no longer installed, say."""
    from domain.names import stack_id
    from domain.resources import Resource
    from infrastructure.runtime import Runtime
    from tests.conftest import invocation

    cli("stack", "create", "app")
    runtime = Runtime(settings(db_path))
    try:
        store = runtime.store()
        stack = store.repository.get(stack_id("app"))
        stack.declare_resources([Resource(name="web", type="k8s-deployment",
                                          attributes={"replicas": 3})], invocation())
        store.save(stack)
    finally:
        runtime.close()
    result = cli("stack", "validate", "app", "--json")
    assert result.exit_code == 1
    status, reason = checks_of(result.stdout)["resources valid"]
    assert status == "fail"
    assert "resource 'web': unknown type 'k8s-deployment'" in reason
    assert validation_events(cli, "app")[-1]["type"] == "validation.failed"


def test_check_drift_observes_the_real_world(cli: CliRun, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    spec = tmp_path / "resources.yaml"
    spec.write_text(f"resources:\n  - name: motd\n    type: file\n    path: {motd}\n"
                    "    content: \"hello\\n\"\n")
    cli("stack", "create", "app")
    assert cli("stack", "resources", "apply", "app", "-f", str(spec)).exit_code == 0
    without = cli("stack", "validate", "app", "--json")
    assert "no drift" not in checks_of(without.stdout)
    assert checks_of(without.stdout)["resources valid"] == (
        "pass", "1 declared resource valid for its type")
    drifted = cli("stack", "validate", "app", "--check-drift", "--json")
    assert drifted.exit_code == 1
    status, reason = checks_of(drifted.stdout)["no drift"]
    assert status == "fail" and "'motd' drifted" in reason
    assert not motd.exists()  # validation only looks
    motd.write_text("hello\n")
    fixed = cli("stack", "validate", "app", "--check-drift", "--json")
    assert fixed.exit_code == 0, fixed.stdout
    assert checks_of(fixed.stdout)["no drift"] == ("pass", "1 resource in sync")
