"""Workflow rules: config keys and values, durations, names, retry delays, task references."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cli.errors import exit_code_for
from cli.exit_codes import ExitCode
from domain.errors import InvalidInput
from domain.workflow import (
    MAX_RETRY_DELAY,
    Backoff,
    RunResult,
    RunStatus,
    TaskResult,
    TaskSpec,
    TaskStatus,
    WorkflowConfig,
    WorkflowInvalid,
    WorkflowSpec,
    describe_run,
    duration_value,
    parse_workflow_config,
    validate_name,
)


def test_config_keys_and_values_are_read() -> None:
    config = parse_workflow_config({"timeout": "30m", "require_lock": True,
                                    "create_snapshot": False, "rollback_on_failure": True,
                                    "max_parallel_tasks": 4})
    assert config == WorkflowConfig(timeout=timedelta(minutes=30), require_lock=True,
                                    create_snapshot=False, rollback_on_failure=True,
                                    max_parallel_tasks=4)


def test_the_configuration_decides_what_the_workflow_leaves_unsaid() -> None:
    said = WorkflowConfig(require_lock=False).with_defaults(auto_lock=True, auto_snapshot=True)
    assert (said.require_lock, said.create_snapshot) == (False, True)
    unsaid = WorkflowConfig().with_defaults(auto_lock=False, auto_snapshot=False)
    assert (unsaid.require_lock, unsaid.create_snapshot) == (False, False)


def test_an_empty_config_takes_the_defaults() -> None:
    assert parse_workflow_config({}) == WorkflowConfig()
    assert WorkflowConfig().max_parallel_tasks is None


def test_an_unknown_config_key_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown config key 'tmeout' \(known: timeout, "
                                           r"require_lock, .*max_parallel_tasks\)"):
        parse_workflow_config({"tmeout": "5m"})


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("timeout", "5x", r"invalid config timeout '5x': use e\.g\. 90s"),
    ("timeout", 0, "a number of seconds must be greater than zero"),
    ("timeout", True, "expected a duration"),
    ("require_lock", "yes", "'require_lock' must be true or false, got 'yes'"),
    ("create_snapshot", 1, "'create_snapshot' must be true or false, got 1"),
    ("max_parallel_tasks", 0, "at least 1, got 0"),
    ("max_parallel_tasks", 1.5, "whole number"),
    ("max_parallel_tasks", "4", "whole number"),
    ("max_parallel_tasks", True, "whole number"),
])
def test_bad_config_values_are_refused_naming_the_key(key: str, value: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_workflow_config({key: value})


def test_durations_are_text_or_seconds() -> None:
    assert duration_value("1h30m", "timeout") == timedelta(minutes=90)
    assert duration_value(90, "timeout") == timedelta(seconds=90)
    assert duration_value(0.25, "timeout") == timedelta(milliseconds=250)


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "999999999999d", "200000d",
                                   10**12, None, [1]])
def test_durations_that_are_not_usable_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="invalid timeout"):
        duration_value(value, "timeout")


@pytest.mark.parametrize("name", ["deploy", "deploy_app", "build-1", "v1.2", "_private"])
def test_valid_names(name: str) -> None:
    assert validate_name(name, "task") == name


@pytest.mark.parametrize(("name", "reason"), [
    ("", "non-empty string"), (3, "non-empty string, got 3"), ("-x", "starting with"),
    ("a b", "use letters"), ("x" * 256, "longer than 255")])
def test_invalid_names(name: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        validate_name(name, "task")


@pytest.mark.parametrize(("backoff", "delays"), [
    (Backoff.FIXED, [2, 2, 2, 2]),
    (Backoff.LINEAR, [2, 4, 6, 8]),
    (Backoff.EXPONENTIAL, [2, 4, 8, 16]),
])
def test_retry_delays_grow_by_backoff(backoff: Backoff, delays: list[int]) -> None:
    task = TaskSpec(name="t", retries=4, backoff=backoff, retry_delay=timedelta(seconds=2))
    assert [task.delay_before_retry(n).total_seconds() for n in range(1, 5)] == delays


def test_retry_delays_are_capped() -> None:
    task = TaskSpec(name="t", retries=100, backoff=Backoff.EXPONENTIAL)
    assert task.delay_before_retry(60) == MAX_RETRY_DELAY
    assert task.max_attempts == 101


def _spec(*tasks: TaskSpec) -> WorkflowSpec:
    return WorkflowSpec(name="w", tasks=tasks, defined_at="f.sloth:9")


def test_a_dependency_on_an_unknown_task_names_the_file_line_and_the_tasks() -> None:
    with pytest.raises(WorkflowInvalid, match=r"^f\.sloth:3: task 'b' depends on unknown task "
                                              r"'c' \(tasks of 'w': a, b\)$"):
        _spec(TaskSpec(name="a"), TaskSpec(name="b", depends_on=("c",), defined_at="f.sloth:3"))


def test_two_tasks_with_one_name_are_refused() -> None:
    with pytest.raises(WorkflowInvalid, match="has two tasks named 'a'"):
        _spec(TaskSpec(name="a"), TaskSpec(name="a"))


def test_a_task_cannot_depend_on_itself() -> None:
    with pytest.raises(WorkflowInvalid, match="task 'a' depends on itself"):
        _spec(TaskSpec(name="a", depends_on=("a",)))


def test_a_workflow_needs_a_task() -> None:
    with pytest.raises(WorkflowInvalid, match=r"^f\.sloth:9: workflow 'w' has no tasks$"):
        _spec()


def test_workflow_errors_are_usage_errors() -> None:
    assert exit_code_for(WorkflowInvalid("x.sloth:1: bad")) is ExitCode.USAGE


def test_a_run_is_described_by_its_counts() -> None:
    result = RunResult(workflow="w", status=RunStatus.FAILED, tasks=[
        TaskResult(name="a", status=TaskStatus.SUCCEEDED),
        TaskResult(name="b", status=TaskStatus.FAILED),
        TaskResult(name="c", status=TaskStatus.SKIPPED),
        TaskResult(name="d", status=TaskStatus.SKIPPED)])
    assert describe_run(result) == "failed: 1 succeeded, 1 failed, 2 skipped"
    timed_out = RunResult(workflow="w", status=RunStatus.TIMED_OUT,
                          tasks=[TaskResult(name="a", status=TaskStatus.TIMED_OUT)])
    assert describe_run(timed_out, timedelta(minutes=5)) == "timed out after 5m 0s: 1 timed out"
