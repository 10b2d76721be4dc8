"""Executions: runs of a workflow against a stack, as the stack records them.

A run is recorded when it starts (`stack.execution.started`) and when it ends
(`stack.execution.completed` or `stack.execution.failed`). While it runs it holds a lease:
the stack's lock when the workflow requires one, or else a lease of its own that the runner
renews (`stack.execution.renewed`). A run whose lease lapses is taken to have vanished (its
runner was killed, or lost the machine): it is shown as failed from that moment, and the next
change to the stack records that as an event.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.errors import Conflict, NotFound

RUNNER_VANISHED = "runner vanished"
"""The reason recorded for a run whose lease lapsed before it ended."""

MAX_TASK_MESSAGE = 4096
MAX_TASK_LOG_LINES = 200


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class TaskRecord(BaseModel):
    """What one task of a run did, as the execution's record keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    status: str
    """succeeded, failed, skipped or timed_out."""
    duration_ms: int = 0
    message: str = ""
    outputs: dict[str, Any] = {}
    attempts: int = 0
    error: str | None = None
    location: str | None = None
    """`file:line` where the task's error was raised."""
    logs: list[str] = []
    """The task's log lines (`level: text`), the last MAX_TASK_LOG_LINES of them."""


class RunningExecution(BaseModel):
    """A run that has started and not ended, and until when its lease keeps it alive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_id: str
    workflow: str
    started_at: datetime
    lock_id: str | None
    """The stack lock the run holds (its lease), when the workflow requires one."""
    alive_until: datetime

    def vanished(self, at: datetime) -> bool:
        """Whether its lease lapsed by `at` without the run having ended."""
        return at >= self.alive_until


class ExecutionNotRunning(Conflict):
    def __init__(self, stack: str, execution_id: str) -> None:
        super().__init__(
            f"execution {execution_id} of stack '{stack}' is not running (it ended, or its "
            "lease lapsed and it was recorded as vanished)", stack=stack, execution=execution_id)


class ExecutionAlreadyRunning(Conflict):
    def __init__(self, stack: str, execution_id: str) -> None:
        super().__init__(f"execution {execution_id} of stack '{stack}' is already running",
                         stack=stack, execution=execution_id)


class ExecutionNotFound(NotFound):
    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution '{execution_id}' not found", execution=execution_id)
