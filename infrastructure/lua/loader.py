"""Loading a `.sloth` file into a workflow, and running its tasks' Lua code.

Lua interpreters are not thread-safe, and tasks run in parallel threads; so every attempt
of a task (and the workflow's `on_complete`) gets its own sandboxed interpreter, which loads
the file's text again and calls that task's function. Tasks share nothing but the stack
(through the host) and their outputs (through the engine). Creating an interpreter and
loading a file costs well under a millisecond for a typical workflow (see
`scripts/benchmarks/workflow.py`); loading has no side effects, because `state`, `stack`
and `exec` act only while a task runs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from commands.workflow_engine import AttemptOutcome, TaskContext
from commands.workflow_plan import plan_workflow
from domain.durations import format_duration
from domain.workflow import (
    LogLevel,
    LogLine,
    RunResult,
    TaskSpec,
    WorkflowHost,
    WorkflowInvalid,
    WorkflowPlan,
    WorkflowSpec,
)
from infrastructure.lua.convert import NotData, to_lua, to_python
from infrastructure.lua.dsl import install_dsl, select_workflow, task_records, workflow_spec
from infrastructure.lua.modules import Modules
from infrastructure.lua.process import CommandStopped
from infrastructure.lua.sandbox import LuaFailure, Sandbox

LOAD_TIMEOUT = timedelta(seconds=30)
"""How long running a file's top level may take."""
HOOK_TIMEOUT = timedelta(seconds=30)
"""How long a task's `on_success`/`on_failure` may run."""
MAX_COMMAND_OUTPUT = 64 * 1024
"""Characters of a string command's stdout kept in the task's outputs."""


class _Session:
    """One sandboxed interpreter with the modules and the DSL, the file loaded into it."""

    def __init__(self, source: str, chunk: str, values: Mapping[str, Any],
                 check: Callable[[], str | None], host: WorkflowHost | None,
                 log: Callable[[LogLevel, str], None]) -> None:
        self.sandbox = Sandbox(check)
        self.modules = Modules(self.sandbox, values=values, should_stop=check, host=host)
        self.modules.log_sink = log
        self.registry = install_dsl(self.sandbox, chunk)
        self.chunk = chunk
        self.sandbox.run(source, chunk)

    def workflow(self, name: str) -> Any:
        record = self.registry["workflows"][name]
        if record is None:
            raise LuaFailure(f"workflow '{name}' is not defined when the file is loaded again")
        return record

    def task(self, workflow: str, name: str) -> Any:
        for record in task_records(self.workflow(workflow)):
            if record["name"] == name:
                return record
        raise LuaFailure(f"task '{name}' is not defined when the file is loaded again")


@dataclass(frozen=True)
class LoadedWorkflow:
    """A validated workflow and what is needed to run its Lua code again."""

    spec: WorkflowSpec
    path: Path
    chunk: str
    """The file's name as messages show it."""
    source: str
    values: dict[str, Any]
    defined: tuple[str, ...]
    """Every workflow the file defines."""
    load_log: tuple[LogLine, ...] = ()
    """What the file's top level logged while it loaded."""
    has_on_complete: bool = False

    def plan(self, default_parallel: int) -> WorkflowPlan:
        return plan_workflow(self.spec, default_parallel)

    def runner(self, host: WorkflowHost) -> LuaTaskRunner:
        return LuaTaskRunner(self, host)

    def completion(self, host: WorkflowHost) -> LuaCompletion | None:
        return LuaCompletion(self, host) if self.has_on_complete else None

    def session(self, check: Callable[[], str | None], host: WorkflowHost | None,
                log: Callable[[LogLevel, str], None]) -> _Session:
        return _Session(self.source, self.chunk, self.values, check, host, log)


def load_workflow(path: Path, *, name: str | None = None,
                  values: Mapping[str, Any] | None = None) -> LoadedWorkflow:
    """Load and validate a workflow file; any problem raises WorkflowInvalid (one line)."""
    chunk = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowInvalid(f"workflow file {chunk}: not found") from None
    except IsADirectoryError:
        raise WorkflowInvalid(f"workflow file {chunk}: is a directory") from None
    except OSError as exc:
        raise WorkflowInvalid(f"workflow file {chunk}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WorkflowInvalid(f"workflow file {chunk}: not UTF-8 text") from None
    given = dict(values or {})
    deadline = time.monotonic() + LOAD_TIMEOUT.total_seconds()
    interrupted = threading.Event()

    def check() -> str | None:
        if interrupted.is_set():
            return "interrupted"
        if time.monotonic() >= deadline:
            return f"loading the file took longer than {format_duration(LOAD_TIMEOUT)}"
        return None

    lines: list[LogLine] = []
    try:
        with _ctrl_c_sets(interrupted):
            session = _Session(source, chunk, given, check, None,
                               lambda level, text: lines.append(LogLine(level=level, message=text)))
    except LuaFailure as failure:
        if interrupted.is_set():
            raise KeyboardInterrupt from None
        raise WorkflowInvalid(_load_message(failure, chunk)) from None
    if interrupted.is_set():
        raise KeyboardInterrupt
    record = select_workflow(session.registry, name, chunk)
    spec = workflow_spec(record, chunk)
    plan_workflow(spec, 1)  # a cycle among the tasks is a load error too
    order = session.registry["order"]
    return LoadedWorkflow(
        spec=spec, path=path, chunk=chunk, source=source, values=given,
        defined=tuple(order[index] for index in range(1, len(order) + 1)),
        load_log=tuple(lines), has_on_complete=record["on_complete"] is not None)


@contextmanager
def _ctrl_c_sets(flag: threading.Event) -> Iterator[None]:
    """While the calling (main) thread runs Lua, Ctrl-C sets `flag` for the Lua hook to see.

    Python delivers KeyboardInterrupt only between Python instructions; raised in a callback
    from Lua it would arrive as a Lua error object, so the signal is turned into a flag.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda number, frame: flag.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _load_message(failure: LuaFailure, chunk: str) -> str:
    message = failure.first_line
    if failure.location(chunk) is None and not message.startswith(f"{chunk}:"):
        message = f"{chunk}: {message}"
    return message


class _Current:
    """The context Lua code currently answers to (a task's hooks get a fresh deadline)."""

    def __init__(self, context: TaskContext) -> None:
        self.context = context
        self.loading = True

    def check(self) -> str | None:
        return self.context.stop_message()

    def log(self, level: LogLevel, text: str) -> None:
        if not self.loading:
            self.context.log(level, text)


class LuaTaskRunner:
    """Runs one attempt of a task in a fresh interpreter (the engine's `TaskRunner`)."""

    def __init__(self, loaded: LoadedWorkflow, host: WorkflowHost) -> None:
        self._loaded = loaded
        self._host = host

    def __call__(self, task: TaskSpec, context: TaskContext) -> AttemptOutcome:
        loaded = self._loaded
        current = _Current(context)
        try:
            session = loaded.session(current.check, self._host, current.log)
            record = session.task(loaded.spec.name, task.name)
        except LuaFailure as failure:
            return self._failed(failure)
        current.loading = False
        session.modules.running = True
        this = to_lua(session.sandbox.lua, {
            "name": task.name, "description": task.description, "workflow": loaded.spec.name,
            "attempt": context.attempt, "max_attempts": context.max_attempts,
            "inputs": dict(context.inputs)})
        params = session.sandbox.globals["values"]
        command = record["command"]
        if isinstance(command, str):
            outcome = self._shell(session, command, current)
        else:
            outcome = self._function(session, command, this, params)
        if outcome.ok or context.attempt >= context.max_attempts:
            outcome = self._hook(session, record, outcome, this, params, current)
        return outcome

    def _function(self, session: _Session, command: Any, this: Any, params: Any) -> AttemptOutcome:
        try:
            returned = session.sandbox.call(command, this, params)
        except LuaFailure as failure:
            return self._failed(failure)
        if not returned:
            return AttemptOutcome(ok=True)
        ok = returned[0] is not None and returned[0] is not False
        message = returned[1] if len(returned) > 1 else None
        text = "" if message is None else _text(message)
        if not ok:
            return AttemptOutcome(ok=False, message=text or f"the task returned {_text(returned[0])}")
        outputs: dict[str, Any] = {}
        if len(returned) > 2 and returned[2] is not None:
            try:
                converted = to_python(returned[2])
            except NotData as exc:
                return AttemptOutcome(ok=False, message=f"the task's outputs: {exc}")
            if not isinstance(converted, dict):
                return AttemptOutcome(ok=False, message="the task's outputs must be a table of "
                                                        "name = value")
            outputs = converted
        return AttemptOutcome(ok=True, message=text, outputs=outputs)

    def _shell(self, session: _Session, command: str, current: _Current) -> AttemptOutcome:
        try:
            result = session.modules.run(command)
        except CommandStopped as stop:
            return AttemptOutcome(ok=False, message=str(stop))
        for stream, level in ((result.stdout, LogLevel.INFO), (result.stderr, LogLevel.WARN)):
            for line in stream.splitlines():
                current.log(level, line)
        outputs = {"exit_code": result.exit_code, "stdout": result.stdout[:MAX_COMMAND_OUTPUT]}
        if result.success:
            return AttemptOutcome(ok=True, message="exit 0", outputs=outputs)
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()
        detail = f": {said[-1][:200]}" if said else ""
        return AttemptOutcome(ok=False, message=f"exit {result.exit_code}{detail}", outputs=outputs)

    def _hook(self, session: _Session, record: Any, outcome: AttemptOutcome, this: Any,
              params: Any, current: _Current) -> AttemptOutcome:
        name = "on_success" if outcome.ok else "on_failure"
        hook = record[name]
        if hook is None:
            return outcome
        current.context = current.context.with_time_limit(
            HOOK_TIMEOUT, f"{name} timed out after {format_duration(HOOK_TIMEOUT)}")
        session.sandbox.rearm()
        detail = to_lua(session.sandbox.lua, outcome.outputs) if outcome.ok else outcome.message
        try:
            session.sandbox.call(hook, this, params, detail)
        except LuaFailure as failure:
            if outcome.ok:
                failed = self._failed(failure)
                return AttemptOutcome(ok=False, message=f"{name} failed: {failed.message}",
                                      outputs=outcome.outputs, error=failed.error,
                                      location=failed.location)
            current.log(LogLevel.ERROR, f"{name} failed: {failure.first_line}")
        return outcome

    def _failed(self, failure: LuaFailure) -> AttemptOutcome:
        return AttemptOutcome(ok=False, message=failure.first_line, error=failure.message.strip(),
                              location=failure.location(self._loaded.chunk))


class LuaCompletion:
    """Runs the workflow's `on_complete(success, result)` (the engine's `CompletionRunner`)."""

    def __init__(self, loaded: LoadedWorkflow, host: WorkflowHost) -> None:
        self._loaded = loaded
        self._host = host

    def __call__(self, result: RunResult, context: TaskContext) -> None:
        current = _Current(context)
        session = self._loaded.session(current.check, self._host, current.log)
        current.loading = False
        session.modules.running = True
        hook = session.workflow(self._loaded.spec.name)["on_complete"]
        if hook is None:
            raise LuaFailure("on_complete is not defined when the file is loaded again")
        summary = result.model_dump(mode="json", exclude={"tasks", "logs"})
        summary["tasks"] = {task.name: task.model_dump(mode="json", exclude={"logs", "name"})
                            for task in result.tasks}
        session.sandbox.call(hook, result.succeeded, to_lua(session.sandbox.lua, summary))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    if isinstance(value, int | float):
        return str(value)
    return "a table"
