"""Runs a workflow's tasks: dependency order, parallelism, retries, timeouts and cancellation.

The engine knows tasks only as `TaskSpec`s and runs each attempt through a `TaskRunner`
callable (the Lua side provides one), so it can be tested with plain Python functions.

Threads: tasks run in a pool of `max_parallel_tasks` worker threads; the calling thread
schedules, waits and calls the listener. Workers report to it through one queue, so every
listener call happens in the calling thread, in the order things happened. Stopping (a
workflow timeout, Ctrl-C in the calling thread, `cancel()`) sets one flag that every task
context sees (runners check it: the Lua hook, the loop waiting for a command); running tasks
then end quickly, tasks not started are skipped.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from commands.workflow_plan import TaskGraph
from domain.durations import format_duration
from domain.workflow import (
    LogLevel,
    LogLine,
    RunResult,
    RunStatus,
    TaskResult,
    TaskSpec,
    TaskStatus,
    WorkflowSpec,
    describe_run,
)

COMPLETE_TIMEOUT = timedelta(minutes=1)
"""How long the workflow's `on_complete` may run."""
POLL_SECONDS = 0.1
"""The longest the calling thread waits for a worker's report before looking around."""


class StopReason(StrEnum):
    TASK_TIMEOUT = "task_timeout"
    WORKFLOW_TIMEOUT = "workflow_timeout"
    INTERRUPTED = "interrupted"


class RunControl:
    """The run's stop flag, shared by every task context."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason: StopReason | None = None
        self._message = ""

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    @property
    def message(self) -> str:
        return self._message

    def stop(self, reason: StopReason, message: str) -> None:
        """Stop everything; the first reason wins."""
        with self._lock:
            if self._reason is None:
                self._reason, self._message = reason, message
        self._event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when the run was stopped meanwhile."""
        return self._event.wait(max(seconds, 0.0))


class TaskContext:
    """What a runner sees of the engine while one attempt runs: limits, stop flag, log."""

    def __init__(self, name: str, *, attempt: int, max_attempts: int, control: RunControl,
                 deadline: float | None, deadline_message: str, deadline_reason: StopReason,
                 emit: Callable[[LogLine], None], inputs: Mapping[str, dict[str, Any]],
                 clock: Callable[[], float]) -> None:
        self.name = name
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.inputs = inputs
        """Outputs of the tasks this one depends on (directly or not), by task name."""
        self._control = control
        self._deadline = deadline
        self._deadline_message = deadline_message
        self._deadline_reason = deadline_reason
        self._emit = emit
        self._clock = clock

    def stop_reason(self) -> StopReason | None:
        """Why the attempt must stop now, or None while it may go on."""
        if self._control.reason is not None:
            return self._control.reason
        if self._deadline is not None and self._clock() >= self._deadline:
            return self._deadline_reason
        return None

    def stop_message(self) -> str | None:
        """The stop reason as a person reads it (`timed out after 5m`, `interrupted`)."""
        if self._control.reason is not None:
            return self._control.message
        if self._deadline is not None and self._clock() >= self._deadline:
            return self._deadline_message
        return None

    def log(self, level: LogLevel, message: str) -> None:
        self._emit(LogLine(level=level, message=message, attempt=self.attempt))

    def with_time_limit(self, limit: timedelta, message: str) -> TaskContext:
        """The same task with a fresh deadline (for its hooks after a timeout)."""
        deadline = self._clock() + limit.total_seconds()
        return TaskContext(self.name, attempt=self.attempt, max_attempts=self.max_attempts,
                           control=self._control, deadline=deadline, deadline_message=message,
                           deadline_reason=StopReason.TASK_TIMEOUT, emit=self._emit,
                           inputs=self.inputs, clock=self._clock)


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt of a task gave."""

    ok: bool
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    location: str | None = None


class TaskRunner(Protocol):
    def __call__(self, task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        """Run one attempt; must return (or raise) soon after `context.stop_reason()` is set."""


class CompletionRunner(Protocol):
    def __call__(self, result: RunResult, context: TaskContext) -> None:
        """Run the workflow's completion code with the run's result."""


class RunListener:
    """Progress as it happens; every method is called in the thread that called `run()`."""

    def task_started(self, name: str, attempt: int) -> None:
        """An attempt of a task started."""

    def task_retrying(self, name: str, attempt: int, delay: float, message: str) -> None:
        """Attempt `attempt` failed with `message`; the next starts in `delay` seconds."""

    def task_finished(self, result: TaskResult) -> None:
        """A task succeeded, failed, timed out or was skipped."""

    def log(self, task: str | None, line: LogLine) -> None:
        """A task (or the workflow's own code, task None) logged a line."""


@dataclass(frozen=True)
class _Log:
    task: str | None
    line: LogLine


@dataclass(frozen=True)
class _Started:
    task: str
    attempt: int


@dataclass(frozen=True)
class _Retrying:
    task: str
    attempt: int
    delay: float
    message: str


@dataclass(frozen=True)
class _Finished:
    result: TaskResult


@dataclass(frozen=True)
class _Completed:
    error: str | None


@dataclass(frozen=True)
class _CtrlC:
    """SIGINT arrived (put by the signal handler: a queue put is safe there)."""


_Message = _Log | _Started | _Retrying | _Finished | _Completed | _CtrlC | None


@contextmanager
def _ctrl_c_reported(reports: queue.SimpleQueue[_Message]) -> Iterator[None]:
    """While a run waits in the main thread, Ctrl-C becomes a message instead of an exception.

    A KeyboardInterrupt can strike between any two Python instructions, say between taking a
    worker's report off the queue and recording it, and the report would be lost. A process
    that ignores SIGINT (or handles it itself) keeps doing so.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: reports.put(_CtrlC()))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class WorkflowEngine:
    """Runs one workflow once; `run()` returns its result, interrupted or not."""

    def __init__(self, spec: WorkflowSpec, runner: TaskRunner, *, default_parallel: int,
                 listener: RunListener | None = None, on_complete: CompletionRunner | None = None,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._runner = runner
        self._listener = listener or RunListener()
        self._on_complete = on_complete
        self._clock = clock
        self._control = RunControl()
        self._finishing = RunControl()
        self._sleep = sleep or self._control.wait
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._graph = TaskGraph(spec)
        self._order = self._graph.order
        self.max_parallel = max(spec.config.max_parallel_tasks or default_parallel, 1)
        self._started = 0.0
        self._deadline: float | None = None
        timeout = spec.config.timeout
        self._timeout_message = (f"the workflow timed out after {format_duration(timeout)}"
                                 if timeout else "")

    def cancel(self) -> None:
        """Stop the run from any thread, as Ctrl-C would."""
        self._interrupt()
        self._queue.put(None)

    def _interrupt(self) -> None:
        self._control.stop(StopReason.INTERRUPTED, "interrupted")
        self._finishing.stop(StopReason.INTERRUPTED, "interrupted")

    def run(self) -> RunResult:
        self._started = self._clock()
        timeout = self.spec.config.timeout
        self._deadline = self._started + timeout.total_seconds() if timeout else None
        results: dict[str, TaskResult] = {}
        with _ctrl_c_reported(self._queue), ThreadPoolExecutor(
                max_workers=self.max_parallel,
                thread_name_prefix=f"workflow-{self.spec.name}") as pool:
            try:
                self._schedule(pool, results)
                logs = self._complete(pool, results)
            except BaseException:
                # The caller's listener failed: leave nothing running.
                self._interrupt()
                raise
        return self._result(results, logs)

    # -- scheduling (calling thread) ---------------------------------------------------------

    def _schedule(self, pool: ThreadPoolExecutor, results: dict[str, TaskResult]) -> None:
        pending = list(self._order)
        running: set[str] = set()
        while True:
            try:
                if self._control.reason is None:
                    self._start_ready(pool, pending, running, results)
                if not running:
                    break
                message = self._next_message()
                if isinstance(message, _Finished):
                    result = message.result
                    running.discard(result.name)
                    results[result.name] = result
                    self._listener.task_finished(result)
                    if result.status is not TaskStatus.SUCCEEDED:
                        self._skip_dependants(result.name, pending, results)
                elif message is not None:
                    self._tell(message)
            except KeyboardInterrupt:
                self._interrupt()
            if self._control.reason is not None and pending:
                self._skip_all(pending, results, f"not started: {self._control.message}")
        if pending:  # only when a dependency never succeeded: nothing else leaves tasks behind
            self._skip_all(pending, results, "not started")

    def _start_ready(self, pool: ThreadPoolExecutor, pending: list[str], running: set[str],
                     results: dict[str, TaskResult]) -> None:
        for name in list(pending):
            if len(running) >= self.max_parallel:
                return
            task = self.spec.task(name)
            if all(dependency in results and results[dependency].status is TaskStatus.SUCCEEDED
                   for dependency in task.depends_on):
                pending.remove(name)
                running.add(name)
                inputs = {needed: results[needed].outputs
                          for needed in self._graph.needs(name)}
                pool.submit(self._run_task, task, inputs)

    def _next_message(self, *, watch_deadline: bool = True) -> _Message:
        """The next report from a worker, or None after a while without one.

        Stops the run when the workflow's time is up. Never blocks long: the operating system
        may deliver Ctrl-C's SIGINT to a worker thread, and Python runs the handler (raising
        KeyboardInterrupt here) only when this thread next runs Python code.
        """
        watching = watch_deadline and self._deadline is not None and self._control.reason is None
        wait = POLL_SECONDS
        if watching and self._deadline is not None:
            wait = min(wait, max(self._deadline - self._clock(), 0.0))
        try:
            return self._queue.get(timeout=wait)
        except queue.Empty:
            if watching and self._deadline is not None and self._clock() >= self._deadline:
                self._control.stop(StopReason.WORKFLOW_TIMEOUT, self._timeout_message)
            return None

    def _tell(self, message: _Message) -> None:
        if isinstance(message, _CtrlC):
            self._interrupt()
        elif isinstance(message, _Log):
            self._listener.log(message.task, message.line)
        elif isinstance(message, _Started):
            self._listener.task_started(message.task, message.attempt)
        elif isinstance(message, _Retrying):
            self._listener.task_retrying(message.task, message.attempt, message.delay,
                                         message.message)

    def _skip_dependants(self, failed: str, pending: list[str],
                         results: dict[str, TaskResult]) -> None:
        dependants = set(self._graph.dependants(failed))
        for name in [name for name in pending if name in dependants]:
            pending.remove(name)
            self._skip(name, results, f"skipped: dependency '{failed}' did not succeed")

    def _skip_all(self, pending: list[str], results: dict[str, TaskResult], message: str) -> None:
        for name in list(pending):
            pending.remove(name)
            self._skip(name, results, message)

    def _skip(self, name: str, results: dict[str, TaskResult], message: str) -> None:
        result = TaskResult(name=name, status=TaskStatus.SKIPPED, message=message)
        results[name] = result
        self._listener.task_finished(result)

    # -- one task, all its attempts (worker thread) ------------------------------------------

    def _run_task(self, task: TaskSpec, inputs: dict[str, dict[str, Any]]) -> None:
        logs: list[LogLine] = []
        started = self._clock()

        def emit(line: LogLine) -> None:
            logs.append(line)
            self._queue.put(_Log(task.name, line))

        try:
            status, outcome, attempts = self._attempts(task, inputs, emit)
        except BaseException as exc:  # a runner that broke its contract must not hang the run
            status, attempts = TaskStatus.FAILED, 1
            outcome = AttemptOutcome(ok=False, message=f"internal error: {exc!r}")
        finished = self._clock()
        self._queue.put(_Finished(TaskResult(
            name=task.name, status=status, message=outcome.message, outputs=outcome.outputs,
            logs=logs, attempts=attempts, duration=finished - started,
            started_at=started - self._started, finished_at=finished - self._started,
            error=outcome.error, location=outcome.location)))

    def _attempts(self, task: TaskSpec, inputs: dict[str, dict[str, Any]],
                  emit: Callable[[LogLine], None]) -> tuple[TaskStatus, AttemptOutcome, int]:
        attempt = 0
        while True:
            attempt += 1
            context = self._context(task, attempt, inputs, emit)
            self._queue.put(_Started(task.name, attempt))
            try:
                outcome = self._runner(task, context)
            except Exception as exc:
                outcome = AttemptOutcome(ok=False, message=f"{type(exc).__name__}: {exc}",
                                         error=str(exc))
            if outcome.ok:
                return TaskStatus.SUCCEEDED, outcome, attempt
            reason = context.stop_reason()
            if not outcome.message:
                outcome = AttemptOutcome(ok=False, message=context.stop_message() or "failed",
                                         outputs=outcome.outputs, error=outcome.error,
                                         location=outcome.location)
            if reason is StopReason.INTERRUPTED:
                return TaskStatus.FAILED, outcome, attempt
            if reason is StopReason.WORKFLOW_TIMEOUT:
                return TaskStatus.TIMED_OUT, outcome, attempt
            if attempt >= task.max_attempts:
                timed_out = reason is StopReason.TASK_TIMEOUT
                return (TaskStatus.TIMED_OUT if timed_out else TaskStatus.FAILED), outcome, attempt
            delay = task.delay_before_retry(attempt).total_seconds()
            self._queue.put(_Retrying(task.name, attempt, delay, outcome.message))
            self._sleep(delay)
            if self._control.reason is not None:
                status = (TaskStatus.TIMED_OUT if self._control.reason is
                          StopReason.WORKFLOW_TIMEOUT else TaskStatus.FAILED)
                return status, AttemptOutcome(
                    ok=False, message=f"{self._control.message} (waiting to retry after: "
                                      f"{outcome.message})",
                    outputs=outcome.outputs, error=outcome.error,
                    location=outcome.location), attempt

    def _context(self, task: TaskSpec, attempt: int, inputs: Mapping[str, dict[str, Any]],
                 emit: Callable[[LogLine], None]) -> TaskContext:
        deadline, message = self._deadline, self._timeout_message
        reason = StopReason.WORKFLOW_TIMEOUT
        if task.timeout is not None:
            own = self._clock() + task.timeout.total_seconds()
            if deadline is None or own < deadline:
                deadline, reason = own, StopReason.TASK_TIMEOUT
                message = f"timed out after {format_duration(task.timeout)}"
        return TaskContext(task.name, attempt=attempt, max_attempts=task.max_attempts,
                           control=self._control, deadline=deadline, deadline_message=message,
                           deadline_reason=reason, emit=emit, inputs=inputs, clock=self._clock)

    # -- the end ------------------------------------------------------------------------------

    def _complete(self, pool: ThreadPoolExecutor, results: dict[str, TaskResult]) -> list[LogLine]:
        """Run the workflow's `on_complete` (not after an interruption); its log lines."""
        if self._on_complete is None or self._control.reason is StopReason.INTERRUPTED:
            return []
        logs: list[LogLine] = []

        def emit(line: LogLine) -> None:
            logs.append(line)
            self._queue.put(_Log(None, line))

        # Its own control: after a workflow timeout it still runs (for its own minute).
        context = TaskContext(
            "on_complete", attempt=1, max_attempts=1, control=self._finishing,
            deadline=self._clock() + COMPLETE_TIMEOUT.total_seconds(),
            deadline_message=f"on_complete timed out after {format_duration(COMPLETE_TIMEOUT)}",
            deadline_reason=StopReason.TASK_TIMEOUT, emit=emit, inputs={}, clock=self._clock)
        result = self._result(results, [])
        on_complete = self._on_complete

        def complete() -> None:
            try:
                on_complete(result, context)
            except BaseException as exc:
                self._queue.put(_Completed(str(exc).splitlines()[0] if str(exc) else repr(exc)))
            else:
                self._queue.put(_Completed(None))

        pool.submit(complete)
        while True:
            try:
                message = self._next_message(watch_deadline=False)
                if isinstance(message, _Completed):
                    if message.error is not None:
                        line = LogLine(level=LogLevel.ERROR,
                                       message=f"on_complete failed: {message.error}")
                        logs.append(line)
                        self._listener.log(None, line)
                    return logs
                self._tell(message)
            except KeyboardInterrupt:
                self._interrupt()

    def _result(self, results: dict[str, TaskResult], logs: list[LogLine]) -> RunResult:
        reason = self._control.reason
        if reason is StopReason.INTERRUPTED:
            status = RunStatus.INTERRUPTED
        elif reason is StopReason.WORKFLOW_TIMEOUT:
            status = RunStatus.TIMED_OUT
        elif all(result.status is TaskStatus.SUCCEEDED for result in results.values()):
            status = RunStatus.SUCCEEDED
        else:
            status = RunStatus.FAILED
        result = RunResult(workflow=self.spec.name, status=status,
                           duration=self._clock() - self._started,
                           tasks=[results[name] for name in self._order], logs=logs)
        result.message = describe_run(result, self.spec.config.timeout)
        return result
