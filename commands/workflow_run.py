"""Running a workflow against a stack: under its lock, after a snapshot, recorded as events.

The order of a run: validate (when asked), take the lock (when the workflow requires it),
take a snapshot (when it asks for one), record `stack.execution.started`, run the tasks,
restore the snapshot if the run failed and the workflow asks for that, record how it ended,
release the lock. Every change a task makes goes through the stack's aggregate, with the
run's execution id as its correlation id and `workflow` as its source.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from commands.leases import Heartbeat, Lease, wait_for_lock
from commands.models import AcquireLock, RestoreSnapshot
from commands.workflow_engine import CompletionRunner, RunListener, TaskRunner, WorkflowEngine
from domain.errors import CheckFailed, DomainError, InvalidInput, LockConflict
from domain.executions import MAX_TASK_LOG_LINES, MAX_TASK_MESSAGE, TaskRecord
from domain.invocation import Invocation, Source
from domain.locks import LockInfo
from domain.stack import Stack
from domain.wording import listed, shortened
from domain.workflow import RunResult, RunStatus, TaskResult, WorkflowConfig, WorkflowHost, WorkflowSpec

if TYPE_CHECKING:
    from commands.outcome import Outcome
    from commands.service import StackService
    from commands.validation import Validator

MAX_OUTPUTS_BYTES = 64 * 1024
"""A task's outputs are kept in its record up to this size (as JSON); larger ones are cut."""

REASONS = {RunStatus.FAILED: "failed", RunStatus.TIMED_OUT: "timed out",
           RunStatus.INTERRUPTED: "interrupted"}


class RunnableWorkflow(Protocol):
    """A loaded, validated workflow, with what runs its tasks' code."""

    @property
    def spec(self) -> WorkflowSpec: ...

    @property
    def path(self) -> Path: ...

    @property
    def source(self) -> str: ...

    @property
    def values(self) -> dict[str, Any]: ...

    def runner(self, host: WorkflowHost) -> TaskRunner: ...

    def completion(self, host: WorkflowHost) -> CompletionRunner | None: ...


class ValidationStopped(CheckFailed):
    """`--validate` found a failing check: the run did not start."""


class StackHost:
    """A workflow's `state` and `stack` modules, acting on one stack through the write side.

    Called from the threads that run tasks; every write is one event of the stack, made with
    the run's invocation (source `workflow`, the execution id as correlation id, the lock).
    """

    def __init__(self, service: StackService, stack: str, invocation: Invocation) -> None:
        self.service = service
        self.stack = stack
        self.invocation = invocation

    def _change(self, decide: Callable[[Stack, Invocation], dict[str, Any]]) -> Outcome:
        return self.service.change(self.stack, self.invocation, decide)

    def stack_name(self) -> str:
        return self.stack

    def stack_status(self) -> str:
        return self.service.load(self.stack).status.value

    def get_value(self, key: str) -> Any:
        return self._opened(key, self.service.load(self.stack).values.get(key))

    def _opened(self, key: str, value: Any) -> Any:
        """A secret in plain text, for the workflow that uses it (it needs the key)."""
        from domain.secrets import is_secret

        return self.service.secrets().open(self.stack, key, value) if is_secret(value) else value

    def set_value(self, key: str, value: Any) -> None:
        from domain.secrets import refuse_marker

        refuse_marker(key, value)
        self._change(lambda stack, inv: {"changed": stack.set_values({key: value}, inv)})

    def set_secret(self, key: str, value: Any) -> None:
        from commands.models import SetValues
        from commands.secrets import sealed
        from domain.names import validate_key

        secrets = SetValues(stack=self.stack, secrets={validate_key(key, "state key"): value}
                            ).secrets
        box = self.service.secrets()
        self._change(lambda stack, inv: {"changed": stack.set_values(
            sealed(box, stack.name, stack.values, secrets), inv)})

    def delete_value(self, key: str) -> bool:
        def delete(stack: Stack, inv: Invocation) -> dict[str, Any]:
            return {"deleted": bool(stack.unset_values([key], inv)) if key in stack.values
                    else False}

        return bool(self._change(delete).detail["deleted"])

    def has_value(self, key: str) -> bool:
        return key in self.service.load(self.stack).values

    def value_keys(self) -> list[str]:
        return sorted(self.service.load(self.stack).values)

    def increment_value(self, key: str, by: int | float) -> int | float:
        def increment(stack: Stack, inv: Invocation) -> dict[str, Any]:
            current = stack.values.get(key, 0)
            if isinstance(current, bool) or not isinstance(current, int | float):
                raise InvalidInput(f"state '{key}' is not a number; it cannot be incremented")
            stack.set_values({key: current + by}, inv)
            return {"value": current + by}

        value: int | float = self._change(increment).detail["value"]
        return value

    def get_output(self, key: str) -> Any:
        return self._opened(key, self.service.load(self.stack).outputs.get(key))

    def set_output(self, key: str, value: Any) -> None:
        self._change(lambda stack, inv: {"changed": stack.set_outputs({key: value}, inv)})


@dataclass(frozen=True)
class RunRequest:
    """One run of a workflow against one stack."""

    stack: str
    workflow: RunnableWorkflow
    validate: bool = False
    wait: timedelta | None = None
    """How long to wait for someone else's lock (refused at once when None)."""


class RunProgress(RunListener):
    """What a front door hears of a run as it goes, besides the engine's task events."""

    def lock_taken(self, stack: str, lock: LockInfo, *, already_held: bool) -> None:
        """The run holds the stack's lock (taken now, or held already by the caller)."""

    def waiting_for_lock(self, stack: str, lock: LockInfo) -> None:
        """Someone else holds the lock; the run waits for it."""

    def snapshot_taken(self, stack: str, version: int) -> None:
        """The snapshot of the stack before the run."""

    def run_started(self, stack: str, execution_id: str, workflow: str) -> None:
        """`stack.execution.started` is recorded."""


@dataclass
class RunReport:
    """How a run went, as every front door reports it."""

    stack: str
    execution_id: str
    workflow: str
    status: str
    """completed, failed or skipped."""
    reason: str | None = None
    message: str = ""
    duration_ms: int = 0
    lock_id: str | None = None
    snapshot_version: int | None = None
    rolled_back_to: int | None = None
    result: RunResult | None = None
    blocked_by: list[str] = field(default_factory=list)
    """For a skipped run: the stacks it depends on whose run failed."""

    @property
    def interrupted(self) -> bool:
        return self.reason == REASONS[RunStatus.INTERRUPTED]

    def to_json(self) -> dict[str, Any]:
        tasks = [{"name": t.name, "status": t.status.value,
                  "duration_ms": round(t.duration * 1000), "message": t.message,
                  "outputs": t.outputs, "attempts": t.attempts, "error": t.error,
                  "location": t.location} for t in (self.result.tasks if self.result else [])]
        return {"stack": self.stack, "execution_id": self.execution_id,
                "workflow": self.workflow, "status": self.status, "reason": self.reason,
                "message": self.message, "duration_ms": self.duration_ms,
                "lock_id": self.lock_id, "snapshot_version": self.snapshot_version,
                "rolled_back_to": self.rolled_back_to, "blocked_by": self.blocked_by,
                "tasks": tasks}


class WorkflowRuns:
    """Runs workflows against stacks, one at a time or many in dependency order."""

    def __init__(self, service: StackService, validator: Callable[[], Validator] | None, *,
                 auto_lock: bool, auto_snapshot: bool, lock_ttl: timedelta,
                 default_parallel: int) -> None:
        self.service = service
        self.validator = validator
        self.auto_lock = auto_lock
        self.auto_snapshot = auto_snapshot
        self.lock_ttl = lock_ttl
        self.default_parallel = default_parallel

    def config(self, spec: WorkflowSpec) -> WorkflowConfig:
        """What a run of this workflow does: its own settings, the configuration's otherwise."""
        return spec.config.with_defaults(auto_lock=self.auto_lock,
                                         auto_snapshot=self.auto_snapshot)

    # ---- one stack ------------------------------------------------------------------------

    def run(self, request: RunRequest, invocation: Invocation,
            progress: RunProgress | None = None, *,
            started: Callable[[WorkflowEngine], None] | None = None,
            recorded: Callable[[], None] | None = None) -> RunReport:
        """Run the workflow once against the stack; returns how it went.

        A stack that does not exist, is destroyed, fails validation or is locked by someone
        else refuses the run before anything is recorded (except the validation itself).
        `started` receives the engine once tasks are about to run (to cancel it from elsewhere);
        `recorded` is called, in this thread, once the run's start is recorded (the front door
        may hand the events written so far to hooks).
        """
        listener = progress or RunProgress()
        workflow = request.workflow
        stack = self.service.load(request.stack)
        stack.select_resources(invocation)  # a destroyed stack refuses, before anything else
        if request.validate:
            self._validate(request.stack, invocation)
        config = self.config(workflow.spec)
        spec = workflow.spec.model_copy(update={"config": config})
        execution_id = str(uuid.uuid4())
        run_invocation = invocation.model_copy(update={
            "source": Source.WORKFLOW, "correlation_id": execution_id})
        clock = time.monotonic()
        lost: list[DomainError] = []
        engine_box: list[WorkflowEngine] = []

        def lock_lost(error: DomainError) -> None:
            lost.append(error)
            if engine_box:
                engine_box[0].cancel()

        with self._holding(request, run_invocation, bool(config.require_lock), execution_id,
                           listener, lock_lost) as (inv, lock_id):
            snapshot_version = None
            if config.create_snapshot:
                snapshot_version = self.service.change(request.stack, inv, lambda s, i: {
                    "snapshot": s.snapshot_by_system(
                        i, f"Before run {spec.name} (execution {execution_id})")}
                ).detail["snapshot"].version
                listener.snapshot_taken(request.stack, snapshot_version)
            self._start(request, inv, spec, execution_id, snapshot_version)
            listener.run_started(request.stack, execution_id, spec.name)
            if recorded is not None:
                recorded()
            host = StackHost(self.service, request.stack, inv)
            engine = WorkflowEngine(spec, workflow.runner(host),
                                    default_parallel=self.default_parallel, listener=listener,
                                    on_complete=workflow.completion(host))
            engine_box.append(engine)
            if lost:
                engine.cancel()
            if started is not None:
                started(engine)
            heartbeat = None if lock_id is not None else Heartbeat(
                lambda: self.service.renew_execution(request.stack, execution_id,
                                                     self.lock_ttl, inv),
                self.lock_ttl.total_seconds() / 3, name=f"run-{execution_id[:8]}").start()
            try:
                result = engine.run()
            except KeyboardInterrupt:
                # Stopped before the engine could report it: the record still says how it ended.
                result = RunResult(workflow=spec.name, status=RunStatus.INTERRUPTED,
                                   message="interrupted")
            finally:
                if heartbeat is not None:
                    heartbeat.stop()
            duration_ms = round((time.monotonic() - clock) * 1000)
            return self._finish(request, inv, spec, result, execution_id, duration_ms,
                                lock_id, snapshot_version, lost)

    def skip(self, stack: str, workflow: WorkflowSpec, invocation: Invocation,
             blocked_by: Sequence[str]) -> RunReport:
        """Record that the run on `stack` was not started: stacks it depends on failed."""
        execution_id = str(uuid.uuid4())
        reason = f"skipped: {listed(list(blocked_by))} failed"
        inv = invocation.model_copy(update={"source": Source.WORKFLOW,
                                            "correlation_id": execution_id})
        def record(target: Stack, inv: Invocation) -> dict[str, Any]:
            target.skip_execution(inv, execution_id=execution_id, workflow=workflow.name,
                                  reason=reason, blocked_by=list(blocked_by))
            return {}

        self.service.change(stack, inv, record)
        return RunReport(stack=stack, execution_id=execution_id, workflow=workflow.name,
                         status="skipped", reason=reason, blocked_by=list(blocked_by))

    def _validate(self, stack: str, invocation: Invocation) -> None:
        if self.validator is None:
            raise InvalidInput("validation is not available to this run")
        (validation,) = self.validator().validate([stack], invocation)
        if not validation.passed:
            failed = [f"{check.check}: {check.reason}" for check in validation.checks
                      if check.status == "fail"]
            raise ValidationStopped(f"validation of '{stack}' failed, so the run did not "
                                    f"start: {'; '.join(failed)}", stack=stack)

    @contextmanager
    def _holding(self, request: RunRequest, invocation: Invocation, require_lock: bool,
                 execution_id: str, listener: RunProgress,
                 on_lost: Callable[[DomainError], None]) -> Iterator[tuple[Invocation, str | None]]:
        """The invocation to run with, and the lock the run holds (None: its own lease).

        A caller who holds the stack's lock already runs under it: the run renews it while
        it lasts, and leaves it held afterwards. Otherwise, when the workflow requires a
        lock, the run takes one for its length.
        """
        held = self.service.load(request.stack).held_lock(self.service.clock())
        if held is not None and held.is_held_by(invocation):
            lease = Lease(self.service, request.stack, invocation, held,
                          max(self.lock_ttl, timedelta(seconds=1)), on_lost=on_lost)
            listener.lock_taken(request.stack, held, already_held=True)
            lease.start_beating()
            try:
                yield lease.invocation, held.lock_id
            finally:
                lease.stop_beating()
            return
        if not require_lock:
            yield invocation, None
            return
        command = AcquireLock(stack=request.stack, ttl=self.lock_ttl,
                              operation=f"run {request.workflow.spec.name}",
                              reason=f"execution {execution_id}", wait=request.wait,
                              metadata={"execution_id": execution_id})
        with self.service.hold_lock(
                command, invocation, on_lost=on_lost,
                on_wait=lambda lock: listener.waiting_for_lock(request.stack, lock)) as lease:
            listener.lock_taken(request.stack, lease.lock, already_held=False)
            yield lease.invocation, lease.lock_id

    def _start(self, request: RunRequest, invocation: Invocation, spec: WorkflowSpec,
               execution_id: str, snapshot_version: int | None) -> None:
        workflow = request.workflow
        digest = hashlib.sha256(workflow.source.encode("utf-8")).hexdigest()
        wait_for_lock(
            lambda: self.service.start_execution(
                request.stack, invocation, execution_id=execution_id, workflow=spec.name,
                version=spec.version, file=str(workflow.path), file_sha256=digest,
                tasks=[task.name for task in spec.tasks], parameters=workflow.values,
                lease=self.lock_ttl, snapshot_version=snapshot_version),
            stack=request.stack, wait=request.wait, sleep=self.service.sleep,
            monotonic=self.service.monotonic)

    def _finish(self, request: RunRequest, invocation: Invocation, spec: WorkflowSpec,
                result: RunResult, execution_id: str, duration_ms: int, lock_id: str | None,
                snapshot_version: int | None, lost: list[DomainError]) -> RunReport:
        succeeded = result.status is RunStatus.SUCCEEDED and not lost
        reason = None if succeeded else REASONS.get(result.status, "failed")
        message = result.message
        if lost:
            reason = "lock lost"
            message = f"the run's lock was taken away: {lost[0]}"
        rolled_back_to = None
        if not succeeded and spec.config.rollback_on_failure and snapshot_version is not None:
            try:
                self.service.restore_snapshot(
                    RestoreSnapshot(stack=request.stack, version=snapshot_version), invocation)
                rolled_back_to = snapshot_version
            except LockConflict as refused:
                message += f"; the state could not be restored to v{snapshot_version}: {refused}"
        self.service.finish_execution(
            request.stack, execution_id, invocation, succeeded=succeeded,
            duration_ms=duration_ms, tasks=[task_record(task) for task in result.tasks],
            message=shortened(message, MAX_TASK_MESSAGE), reason=reason or "failed",
            rolled_back_to=rolled_back_to)
        return RunReport(stack=request.stack, execution_id=execution_id, workflow=spec.name,
                         status="completed" if succeeded else "failed", reason=reason,
                         message=message, duration_ms=duration_ms, lock_id=lock_id,
                         snapshot_version=snapshot_version, rolled_back_to=rolled_back_to,
                         result=result)

    # ---- many stacks ----------------------------------------------------------------------

    def run_many(self, levels: Sequence[Sequence[str]], dependencies: Mapping[str, set[str]],
                 make_request: Callable[[str], RunRequest], invocation: Invocation,
                 progress: Callable[[str], RunProgress] | None = None) -> list[RunReport]:
        """Run the workflow on each stack, level by level (a level's stacks in parallel).

        `dependencies` gives, for each stack, the stacks among these it depends on,
        transitively; when a stack's run fails, those that depend on it are skipped (and
        recorded as skipped), and the others go on. Ctrl-C stops every run in progress.
        """
        reports: dict[str, RunReport] = {}
        engines: list[WorkflowEngine] = []
        guard = threading.Lock()

        def started(engine: WorkflowEngine) -> None:
            with guard:
                engines.append(engine)

        def one(name: str) -> RunReport:
            listener = progress(name) if progress is not None else None
            return self.run(make_request(name), invocation, listener, started=started)

        with ThreadPoolExecutor(max_workers=max(self.default_parallel, 1),
                                thread_name_prefix="run-stack") as pool:
            for level in levels:
                todo: dict[Future[RunReport], str] = {}
                for name in level:
                    failed = sorted(d for d in dependencies.get(name, set())
                                    if d in reports and reports[d].status != "completed")
                    if failed:
                        reports[name] = self.skip(name, make_request(name).workflow.spec,
                                                  invocation, failed)
                    else:
                        todo[pool.submit(one, name)] = name
                try:
                    while todo:
                        done, _ = wait(todo, return_when=FIRST_COMPLETED)
                        for future in done:
                            reports[todo.pop(future)] = future.result()
                except KeyboardInterrupt:
                    with guard:
                        for engine in engines:
                            engine.cancel()
                    for future, name in todo.items():
                        reports[name] = future.result()
                    raise
        return [reports[name] for level in levels for name in level]


def task_record(task: TaskResult) -> TaskRecord:
    """A task's result as the execution's record keeps it (bounded in size)."""
    outputs = task.outputs
    if len(orjson.dumps(outputs)) > MAX_OUTPUTS_BYTES:
        outputs = {"_truncated": f"outputs larger than {MAX_OUTPUTS_BYTES // 1024} KiB "
                                 "were not kept"}
    logs = [f"{line.level.value}: {line.message}" for line in task.logs][-MAX_TASK_LOG_LINES:]
    return TaskRecord(name=task.name, status=task.status.value,
                      duration_ms=round(task.duration * 1000),
                      message=shortened(task.message, MAX_TASK_MESSAGE), outputs=outputs,
                      attempts=task.attempts, error=task.error, location=task.location,
                      logs=[shortened(line, MAX_TASK_MESSAGE) for line in logs])
