"""The `stack_executions` read model: every run of a workflow, its tasks and its lease."""

from __future__ import annotations

from functools import singledispatchmethod

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, dump


class ExecutionProjector(DispatchingProjector):
    """Maintains `stack_executions`, one row per run."""

    spec = schema.EXECUTIONS

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events leave runs as they are."""

    @handle.register
    def _started(self, event: Stack.ExecutionStarted, cursor: Cursor,
                 position: int) -> None:
        stack_id = str(event.originator_id)
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute(
            "INSERT INTO stack_executions (id, stack_id, stack_name, workflow, version, file,"
            " file_sha256, status, reason, message, started_at, started_by, correlation_id,"
            " finished_at, duration_ms, lock_id, alive_until, snapshot_version, rolled_back_to,"
            " task_names, parameters, tasks, started_event, finished_event)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', NULL, '', ?, ?, ?, NULL, NULL, ?, ?, ?,"
            " NULL, ?, ?, '[]', ?, NULL) ON CONFLICT (id) DO NOTHING",
            (event.execution_id, stack_id, name, event.workflow, event.version, event.file,
             event.file_sha256, to_text(event.original_time or event.timestamp), event.actor,
             event.correlation_id,
             event.lock_id, to_text(event.alive_until), event.snapshot_version,
             dump(event.tasks), dump(event.parameters), position))

    @handle.register
    def _skipped(self, event: Stack.ExecutionSkipped, cursor: Cursor,
                 position: int) -> None:
        stack_id = str(event.originator_id)
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        at = to_text(event.timestamp)
        cursor.execute(
            "INSERT INTO stack_executions (id, stack_id, stack_name, workflow, version, file,"
            " file_sha256, status, reason, message, started_at, started_by, correlation_id,"
            " finished_at, duration_ms, lock_id, alive_until, snapshot_version, rolled_back_to,"
            " task_names, parameters, tasks, started_event, finished_event)"
            " VALUES (?, ?, ?, ?, '', '', '', 'skipped', ?, '', ?, ?, ?, ?, 0, NULL, ?, NULL,"
            " NULL, '[]', '{}', '[]', ?, ?) ON CONFLICT (id) DO NOTHING",
            (event.execution_id, stack_id, name, event.workflow, event.reason, at, event.actor,
             event.correlation_id, at, at, position, position))

    @handle.register
    def _renewed(self, event: Stack.ExecutionRenewed, cursor: Cursor,
                 position: int) -> None:
        cursor.execute("UPDATE stack_executions SET alive_until = ? WHERE id = ?",
                       (to_text(event.alive_until), event.execution_id))

    @handle.register(Stack.ExecutionCompleted)
    @handle.register(Stack.ExecutionFailed)
    def _ended(self, event: Stack.ExecutionCompleted | Stack.ExecutionFailed,
               cursor: Cursor, position: int) -> None:
        reason, rolled_back_to = ((event.reason, event.rolled_back_to)
                                  if isinstance(event, Stack.ExecutionFailed) else (None, None))
        cursor.execute(
            "UPDATE stack_executions SET status = ?, reason = ?, message = ?, finished_at = ?,"
            " duration_ms = ?, rolled_back_to = ?, tasks = ?, finished_event = ? WHERE id = ?",
            (event.outcome().value, reason, event.message,
             to_text(event.original_time or event.timestamp),
             event.duration_ms, rolled_back_to,
             dump([task.model_dump(mode="json") for task in event.tasks]), position,
             event.execution_id))

    @handle.register
    def _lock_renewed(self, event: Stack.LockRenewed, cursor: Cursor,
                      position: int) -> None:
        # A run that holds the lock lives as long as the lock does.
        cursor.execute(
            "UPDATE stack_executions SET alive_until = ?"
            " WHERE stack_id = ? AND lock_id = ? AND status = 'running'",
            (to_text(event.expires_at), str(event.originator_id), event.lock_id))

    @handle.register(Stack.LockReleased)
    @handle.register(Stack.LockForceReleased)
    @handle.register(Stack.LockExpired)
    def _lock_gone(self, event: Stack.LockReleased | Stack.LockForceReleased | Stack.LockExpired,
                   cursor: Cursor, position: int) -> None:
        cursor.execute(
            "UPDATE stack_executions SET alive_until = ?"
            " WHERE stack_id = ? AND lock_id = ? AND status = 'running' AND alive_until > ?",
            (to_text(event.timestamp), str(event.originator_id), event.lock_id,
             to_text(event.timestamp)))
