"""Each pre-flight check over hand-made facts, and the verdict they add up to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.validation import (
    CHECKS,
    Check,
    CheckStatus,
    DependencyFacts,
    LockFacts,
    StackFacts,
    check_config,
    check_dependencies_acyclic,
    check_dependencies_did_not_fail,
    check_dependencies_exist,
    check_dependencies_not_destroyed,
    check_lock,
    check_stack,
    passed,
    run_checks,
)

T = datetime(2025, 10, 10, 14, 0, tzinfo=UTC)
HEALTHY = StackFacts(name="app", status="completed", dependency_count=1)


def test_a_healthy_stack_passes_every_check() -> None:
    results = run_checks(HEALTHY)
    assert [r.check for r in results] == [
        "stack", "dependencies exist", "dependencies not destroyed", "dependencies acyclic",
        "dependencies did not fail", "lock", "config", "resources valid"]
    assert {r.status for r in results} == {CheckStatus.PASS}
    assert passed(results)
    assert len(results) == len(CHECKS)


def test_a_destroyed_stack_fails_with_when() -> None:
    result = check_stack(StackFacts(name="app", status="destroyed", destroyed_at=T))
    assert result.status is CheckStatus.FAIL
    assert result.reason == "stack 'app' was destroyed at 2025-10-10 14:00:00 UTC"


@pytest.mark.parametrize(("status", "check", "fragment"), [
    (None, check_dependencies_exist, "'db' does not exist (required by app, web)"),
    ("destroyed", check_dependencies_not_destroyed, "'db' is destroyed (required by app, web)"),
    ("failed", check_dependencies_did_not_fail, "'db' last failed (required by app, web)"),
])
def test_each_dependency_problem_fails_its_own_check(status: str | None, check: Check,
                                                     fragment: str) -> None:
    facts = StackFacts(name="app", status="created", dependency_count=2, dependencies=(
        DependencyFacts("db", status, ("app", "web")),))
    results = run_checks(facts)
    failing = [r for r in results if r.status is CheckStatus.FAIL]
    assert [r.check for r in failing] == [check(facts).check]
    assert failing[0].reason == fragment
    assert not passed(results)


def test_cycles_fail_with_their_path() -> None:
    result = check_dependencies_acyclic(StackFacts(name="a", status="created",
                                                   cycles=(("a", "b", "a"),)))
    assert (result.status, result.reason) == (CheckStatus.FAIL, "cycle a -> b -> a")


def test_someone_elses_lock_warns_and_does_not_fail() -> None:
    lock = LockFacts(locked_by="deploy-bot", operation="deploy", expires_at=T,
                     held_by_caller=False)
    result = check_lock(StackFacts(name="app", status="created", lock=lock))
    assert result.status is CheckStatus.WARN
    assert result.reason == "locked by deploy-bot (deploy) until 2025-10-10 14:00:00 UTC"
    assert passed([result])
    mine = check_lock(StackFacts(name="app", status="created",
                                 lock=LockFacts("me", "", T, held_by_caller=True)))
    assert (mine.status, mine.reason) == (CheckStatus.PASS,
                                          "locked by you (me) until 2025-10-10 14:00:00 UTC")


def test_a_bad_config_file_fails_and_a_good_one_is_named() -> None:
    bad = check_config(StackFacts(name="a", status="created", config_problem="config x: boom"))
    assert (bad.status, bad.reason) == (CheckStatus.FAIL, "config x: boom")
    good = check_config(StackFacts(name="a", status="created", config_path="/etc/c.yaml"))
    assert (good.status, good.reason) == (CheckStatus.PASS, "/etc/c.yaml is valid")
