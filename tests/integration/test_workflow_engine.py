"""The scheduler with plain Python task runners: order, parallelism, failures, retries, stops."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from commands.workflow_engine import AttemptOutcome, RunListener, TaskContext, WorkflowEngine
from domain.workflow import (
    Backoff,
    LogLevel,
    LogLine,
    RunResult,
    RunStatus,
    TaskResult,
    TaskSpec,
    TaskStatus,
    WorkflowConfig,
    WorkflowSpec,
)

Runner = Callable[[TaskSpec, TaskContext], AttemptOutcome]


def _spec(*tasks: TaskSpec, **config: object) -> WorkflowSpec:
    return WorkflowSpec(name="w", tasks=tasks, config=WorkflowConfig(**config))  # type: ignore[arg-type]


def _sleeping(seconds: float) -> Runner:
    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        time.sleep(seconds)
        return AttemptOutcome(ok=True, message=f"{task.name} done")

    return run


def _until_stopped(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
    """A task that runs until the engine tells it to stop (as the Lua hook does)."""
    while context.stop_reason() is None:
        time.sleep(0.01)
    return AttemptOutcome(ok=False, message=context.stop_message() or "")


def _engine(spec: WorkflowSpec, runner: Runner, parallel: int = 4, **options: object
            ) -> WorkflowEngine:
    return WorkflowEngine(spec, runner, default_parallel=parallel, **options)  # type: ignore[arg-type]


def test_independent_tasks_overlap_in_time() -> None:
    spec = _spec(TaskSpec(name="a"), TaskSpec(name="b"), TaskSpec(name="c"))
    result = _engine(spec, _sleeping(0.3), parallel=3).run()
    assert result.status is RunStatus.SUCCEEDED
    tasks = result.tasks
    latest_start = max(task.started_at or 0 for task in tasks)
    earliest_end = min(task.finished_at or 0 for task in tasks)
    assert latest_start < earliest_end, "all three ran at the same time"


def test_dependencies_run_first() -> None:
    spec = _spec(TaskSpec(name="deploy", depends_on=("build",)), TaskSpec(name="build"))
    result = _engine(spec, _sleeping(0.05)).run()
    assert [task.name for task in result.tasks] == ["build", "deploy"]
    assert (result.task("deploy").started_at or 0) >= (result.task("build").finished_at or 1)


def test_the_parallelism_limit_holds() -> None:
    lock = threading.Lock()
    running, highest = 0, 0

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        nonlocal running, highest
        with lock:
            running += 1
            highest = max(highest, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return AttemptOutcome(ok=True)

    spec = _spec(*(TaskSpec(name=f"t{i}") for i in range(8)))
    result = _engine(spec, run, parallel=2).run()
    assert result.succeeded and highest == 2

    highest = 0
    limited = _spec(*(TaskSpec(name=f"t{i}") for i in range(8)), max_parallel_tasks=3)
    engine = _engine(limited, run, parallel=1)
    assert engine.max_parallel == 3
    assert engine.run().succeeded and highest == 3


def test_a_failure_skips_its_dependants_and_lets_the_others_finish() -> None:
    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        if task.name == "migrate":
            return AttemptOutcome(ok=False, message="migration failed", error="boom",
                                  location="x.sloth:3")
        time.sleep(0.2 if task.name == "slow" else 0.01)
        return AttemptOutcome(ok=True)

    spec = _spec(TaskSpec(name="slow"), TaskSpec(name="migrate"),
                 TaskSpec(name="deploy", depends_on=("migrate",)),
                 TaskSpec(name="verify", depends_on=("deploy",)),
                 TaskSpec(name="docs"))
    result = _engine(spec, run, parallel=2).run()
    statuses = {task.name: task.status for task in result.tasks}
    assert statuses == {"slow": TaskStatus.SUCCEEDED, "migrate": TaskStatus.FAILED,
                        "deploy": TaskStatus.SKIPPED, "verify": TaskStatus.SKIPPED,
                        "docs": TaskStatus.SUCCEEDED}
    assert result.status is RunStatus.FAILED
    assert result.message == "failed: 2 succeeded, 1 failed, 2 skipped"
    migrate = result.task("migrate")
    assert (migrate.message, migrate.error, migrate.location, migrate.attempts) == (
        "migration failed", "boom", "x.sloth:3", 1)
    assert result.task("verify").message == "skipped: dependency 'migrate' did not succeed"
    assert result.task("verify").attempts == 0 and result.task("verify").started_at is None


def test_retries_count_attempts_and_wait_by_backoff() -> None:
    waits: list[float] = []
    retried: list[tuple[str, int, float, str]] = []

    class Listener(RunListener):
        def task_retrying(self, name: str, attempt: int, delay: float, message: str) -> None:
            retried.append((name, attempt, delay, message))

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        if context.attempt < 3:
            return AttemptOutcome(ok=False, message=f"flaky {context.attempt}")
        return AttemptOutcome(ok=True, message="third time lucky")

    spec = _spec(TaskSpec(name="flaky", retries=5, backoff=Backoff.EXPONENTIAL,
                          retry_delay=timedelta(seconds=10)))
    result = _engine(spec, run, listener=Listener(), sleep=waits.append).run()
    assert result.succeeded
    assert (result.task("flaky").attempts, result.task("flaky").message) == (3, "third time lucky")
    assert waits == [10.0, 20.0]
    assert retried == [("flaky", 1, 10.0, "flaky 1"), ("flaky", 2, 20.0, "flaky 2")]


def test_a_task_that_keeps_failing_fails_after_its_last_attempt() -> None:
    waits: list[float] = []
    spec = _spec(TaskSpec(name="broken", retries=2, backoff=Backoff.LINEAR))
    result = _engine(spec, lambda task, context: AttemptOutcome(ok=False, message="no"),
                     sleep=waits.append).run()
    assert (result.task("broken").status, result.task("broken").attempts) == (TaskStatus.FAILED, 3)
    assert waits == [1.0, 2.0]


def test_a_task_timeout_stops_the_attempt_and_counts_as_a_failure_to_retry() -> None:
    spec = _spec(TaskSpec(name="stuck", timeout=timedelta(milliseconds=150), retries=1))
    started = time.monotonic()
    result = _engine(spec, _until_stopped, sleep=lambda seconds: None).run()
    stuck = result.task("stuck")
    assert (stuck.status, stuck.attempts, stuck.message) == (
        TaskStatus.TIMED_OUT, 2, "timed out after 150ms")
    assert result.status is RunStatus.FAILED
    assert 0.3 <= time.monotonic() - started < 2


def test_the_workflow_timeout_stops_running_tasks_and_skips_the_rest() -> None:
    spec = _spec(TaskSpec(name="long"), TaskSpec(name="quick"),
                 TaskSpec(name="after", depends_on=("long",)), timeout=timedelta(milliseconds=300))

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        if task.name == "quick":
            return AttemptOutcome(ok=True)
        return _until_stopped(task, context)

    started = time.monotonic()
    result = _engine(spec, run).run()
    assert time.monotonic() - started < 2
    assert result.status is RunStatus.TIMED_OUT
    assert {task.name: task.status for task in result.tasks} == {
        "long": TaskStatus.TIMED_OUT, "quick": TaskStatus.SUCCEEDED, "after": TaskStatus.SKIPPED}
    assert result.task("long").message == "the workflow timed out after 300ms"
    assert result.task("after").message == "not started: the workflow timed out after 300ms"


def test_cancel_stops_running_tasks_and_says_interrupted() -> None:
    spec = _spec(TaskSpec(name="long"), TaskSpec(name="next", depends_on=("long",)))
    engine = _engine(spec, _until_stopped)
    threading.Timer(0.2, engine.cancel).start()
    result = engine.run()
    assert result.status is RunStatus.INTERRUPTED
    assert (result.task("long").status, result.task("long").message) == (
        TaskStatus.FAILED, "interrupted")
    assert result.task("next").message == "not started: interrupted"
    assert result.message == "interrupted: 1 failed, 1 skipped"


def test_ctrl_c_in_the_calling_thread_interrupts_the_run() -> None:
    started = threading.Event()

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        started.set()
        return _until_stopped(task, context)

    def press_ctrl_c() -> None:
        started.wait(5)
        time.sleep(0.05)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    assert threading.current_thread() is threading.main_thread()
    spec = _spec(TaskSpec(name="long"))
    threading.Thread(target=press_ctrl_c).start()
    result = _engine(spec, run).run()
    assert result.status is RunStatus.INTERRUPTED
    assert result.task("long").status is TaskStatus.FAILED


def test_ctrl_c_delivered_to_a_worker_thread_still_interrupts_the_run() -> None:
    """The kernel may hand SIGINT to any thread; Python handles it in the main thread only."""

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        time.sleep(0.3)  # the calling thread is waiting for news by now
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        give_up = time.monotonic() + 5
        while context.stop_reason() is None and time.monotonic() < give_up:
            time.sleep(0.01)
        return AttemptOutcome(ok=context.stop_reason() is None)

    started = time.monotonic()
    result = _engine(_spec(TaskSpec(name="long")), run).run()
    assert (result.status, result.task("long").status) == (RunStatus.INTERRUPTED,
                                                           TaskStatus.FAILED)
    assert time.monotonic() - started < 3


def test_listener_calls_come_in_order_in_the_calling_thread() -> None:
    seen: list[tuple[str, ...]] = []
    threads: set[threading.Thread] = set()

    class Listener(RunListener):
        def task_started(self, name: str, attempt: int) -> None:
            threads.add(threading.current_thread())
            seen.append(("started", name))

        def log(self, task: str | None, line: LogLine) -> None:
            threads.add(threading.current_thread())
            seen.append(("log", task or "", line.message))

        def task_finished(self, result: TaskResult) -> None:
            threads.add(threading.current_thread())
            seen.append(("finished", result.name, result.status.value))

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        context.log(LogLevel.INFO, f"hello from {task.name}")
        return AttemptOutcome(ok=task.name != "b")

    spec = _spec(TaskSpec(name="a"), TaskSpec(name="b", depends_on=("a",)),
                 TaskSpec(name="c", depends_on=("b",)))
    result = _engine(spec, run, listener=Listener()).run()
    assert threads == {threading.current_thread()}
    assert seen == [("started", "a"), ("log", "a", "hello from a"), ("finished", "a", "succeeded"),
                    ("started", "b"), ("log", "b", "hello from b"), ("finished", "b", "failed"),
                    ("finished", "c", "skipped")]
    assert [line.message for line in result.task("a").logs] == ["hello from a"]


def test_a_runner_that_raises_fails_its_task() -> None:
    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        raise RuntimeError("the runner broke")

    result = _engine(_spec(TaskSpec(name="a")), run).run()
    assert result.task("a").status is TaskStatus.FAILED
    assert result.task("a").message == "RuntimeError: the runner broke"


def test_tasks_receive_the_outputs_of_what_they_depend_on() -> None:
    received: dict[str, dict[str, object]] = {}

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        received[task.name] = dict(context.inputs)
        return AttemptOutcome(ok=True, outputs={"from": task.name})

    spec = _spec(TaskSpec(name="a"), TaskSpec(name="b", depends_on=("a",)),
                 TaskSpec(name="c", depends_on=("b",)), TaskSpec(name="d"))
    result = _engine(spec, run).run()
    assert received["c"] == {"a": {"from": "a"}, "b": {"from": "b"}}
    assert received["d"] == {}
    assert result.task("c").outputs == {"from": "c"}


def test_on_complete_sees_the_result_and_its_failure_is_logged() -> None:
    seen: list[RunResult] = []

    def complete(result: RunResult, context: TaskContext) -> None:
        seen.append(result)
        context.log(LogLevel.INFO, "all done")
        raise RuntimeError("notification failed")

    spec = _spec(TaskSpec(name="a"))
    result = _engine(spec, lambda task, context: AttemptOutcome(ok=True),
                     on_complete=complete).run()
    assert [run.status for run in seen] == [RunStatus.SUCCEEDED]
    assert result.succeeded
    assert [(line.level, line.message) for line in result.logs] == [
        (LogLevel.INFO, "all done"), (LogLevel.ERROR, "on_complete failed: notification failed")]


def test_a_failing_listener_stops_the_run_and_propagates() -> None:
    stopped = threading.Event()

    class Listener(RunListener):
        def task_finished(self, result: TaskResult) -> None:
            raise OSError("cannot record")

    def run(task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        if task.name == "quick":
            return AttemptOutcome(ok=True)
        outcome = _until_stopped(task, context)
        stopped.set()
        return outcome

    spec = _spec(TaskSpec(name="long"), TaskSpec(name="quick"))
    started = time.monotonic()
    with pytest.raises(OSError, match="cannot record"):
        _engine(spec, run, listener=Listener()).run()
    assert stopped.is_set() and time.monotonic() - started < 2


def test_on_complete_still_runs_after_the_workflow_timed_out() -> None:
    seen: list[RunStatus] = []

    def complete(result: RunResult, context: TaskContext) -> None:
        assert context.stop_reason() is None
        seen.append(result.status)

    spec = _spec(TaskSpec(name="long"), timeout=timedelta(milliseconds=200))
    result = _engine(spec, _until_stopped, on_complete=complete).run()
    assert result.status is RunStatus.TIMED_OUT
    assert seen == [RunStatus.TIMED_OUT]
    assert result.logs == []
