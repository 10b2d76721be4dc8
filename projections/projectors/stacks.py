"""The `stacks`, `state_values` and `stack_outputs` read models."""

from __future__ import annotations

import sqlite3
from functools import singledispatchmethod
from typing import Any

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from projections import schema
from projections.projectors import Projector, dump


class StackProjector(Projector):
    """Maintains `stacks`, `state_values` and `stack_outputs`."""

    spec = schema.STACKS

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        if not isinstance(event, Stack.Created):
            # Stamp the row, and learn in the same statement whether this event is new to it:
            # each row records the last stream version applied, which makes replays harmless.
            cursor.execute(
                "UPDATE stacks SET updated_at = ?, updated_by = ?, event_version = ?"
                " WHERE id = ? AND event_version < ?",
                (to_text(event.timestamp), event.actor, event.originator_version,
                 str(event.originator_id), event.originator_version),
            )
            if cursor.rowcount == 0:
                return
        else:
            applied = cursor.execute(
                "SELECT event_version FROM stacks WHERE id = ?", (str(event.originator_id),)
            ).fetchone()
            if applied is not None and event.originator_version <= applied[0]:
                return
        self.handle(event, cursor)

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor) -> None:
        """Events that change nothing but the stack's last-updated stamp."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        at = to_text(event.timestamp)
        cursor.execute(
            "INSERT INTO stacks (id, name, description, status, created_at, updated_at,"
            " event_version, incarnation, created_by, updated_by)"
            " VALUES (?, ?, ?, 'created', ?, ?, ?, 1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET description = excluded.description,"
            " status = 'created', created_at = excluded.created_at,"
            " updated_at = excluded.updated_at, event_version = excluded.event_version,"
            " incarnation = stacks.incarnation + 1, destroyed_at = NULL,"
            " created_by = excluded.created_by, updated_by = excluded.updated_by,"
            " value_count = 0, output_count = 0",
            (stack_id, event.name, event.description, at, at, event.originator_version,
             event.actor, event.actor),
        )
        cursor.execute("DELETE FROM state_values WHERE stack_id = ?", (stack_id,))
        cursor.execute("DELETE FROM stack_outputs WHERE stack_id = ?", (stack_id,))

    @handle.register
    def _updated(self, event: Stack.Updated, cursor: sqlite3.Cursor) -> None:
        if event.description is not None:
            cursor.execute("UPDATE stacks SET description = ? WHERE id = ?",
                           (event.description, str(event.originator_id)))
        if event.status is not None:
            cursor.execute("UPDATE stacks SET status = ? WHERE id = ?",
                           (event.status.value, str(event.originator_id)))

    @handle.register
    def _destroyed(self, event: Stack.Destroyed, cursor: sqlite3.Cursor) -> None:
        cursor.execute(
            "UPDATE stacks SET status = 'destroyed', destroyed_at = ? WHERE id = ?",
            (to_text(event.timestamp), str(event.originator_id)),
        )

    @handle.register
    def _snapshot_created(self, event: Stack.SnapshotCreated, cursor: sqlite3.Cursor) -> None:
        cursor.execute("UPDATE stacks SET version = ? WHERE id = ?",
                       (event.version, str(event.originator_id)))

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        state = event.state
        # As the aggregate has it: a run going on keeps the stack running, and a version taken
        # mid-run does not bring a run back.
        cursor.execute(
            "UPDATE stacks SET description = ?,"
            " status = CASE WHEN running_executions > 0 THEN 'running'"
            " WHEN ? = 'running' THEN status ELSE ? END,"
            " destroyed_at = ?, value_count = ?, output_count = ? WHERE id = ?",
            (state.description, state.status, state.status,
             to_text(event.timestamp) if state.status == "destroyed" else None,
             len(state.values), len(state.outputs), stack_id),
        )
        for table, values in (("state_values", state.values), ("stack_outputs", state.outputs)):
            cursor.execute(f"DELETE FROM {table} WHERE stack_id = ?", (stack_id,))
            cursor.executemany(
                f"INSERT INTO {table} (stack_id, key, value, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?)",
                [(stack_id, key, dump(value), to_text(event.timestamp), event.actor)
                 for key, value in values.items()],
            )

    @handle.register
    def _run_started(self, event: Stack.ExecutionStarted, cursor: sqlite3.Cursor) -> None:
        cursor.execute(
            "UPDATE stacks SET status = 'running', last_execution = ?, last_duration_ms = NULL,"
            " execution_count = execution_count + 1,"
            " running_executions = running_executions + 1 WHERE id = ?",
            (to_text(event.timestamp), str(event.originator_id)))

    @handle.register(Stack.ExecutionCompleted)
    @handle.register(Stack.ExecutionFailed)
    def _run_ended(self, event: Stack.ExecutionCompleted | Stack.ExecutionFailed,
                   cursor: sqlite3.Cursor) -> None:
        outcome = event.outcome().value
        cursor.execute(
            "UPDATE stacks SET running_executions = CASE WHEN running_executions > 0"
            " THEN running_executions - 1 ELSE 0 END,"
            " last_duration_ms = ? WHERE id = ?",
            (event.duration_ms, str(event.originator_id)))
        cursor.execute(
            "UPDATE stacks SET status = CASE WHEN running_executions > 0 THEN 'running'"
            " WHEN status = 'destroyed' THEN status ELSE ? END WHERE id = ?",
            (outcome, str(event.originator_id)))

    @handle.register
    def _state_set(self, event: Stack.StateSet, cursor: sqlite3.Cursor) -> None:
        self._put("state_values", "value_count", event, event.key, event.value, cursor)

    @handle.register
    def _state_deleted(self, event: Stack.StateDeleted, cursor: sqlite3.Cursor) -> None:
        self._delete("state_values", "value_count", event, event.key, cursor)

    @handle.register
    def _output_set(self, event: Stack.OutputSet, cursor: sqlite3.Cursor) -> None:
        self._put("stack_outputs", "output_count", event, event.key, event.value, cursor)

    @handle.register
    def _output_deleted(self, event: Stack.OutputDeleted, cursor: sqlite3.Cursor) -> None:
        self._delete("stack_outputs", "output_count", event, event.key, cursor)

    @staticmethod
    def _put(table: str, counter: str, event: DomainEvent, key: str, value: Any,
             cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        cursor.execute(
            f"UPDATE {table} SET value = ?, updated_at = ?, updated_by = ?"
            " WHERE stack_id = ? AND key = ?",
            (dump(value), to_text(event.timestamp), event.actor, stack_id, key),
        )
        if cursor.rowcount == 0:
            cursor.execute(
                f"INSERT INTO {table} (stack_id, key, value, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?)",
                (stack_id, key, dump(value), to_text(event.timestamp), event.actor),
            )
            cursor.execute(f"UPDATE stacks SET {counter} = {counter} + 1 WHERE id = ?",
                           (stack_id,))

    @staticmethod
    def _delete(table: str, counter: str, event: DomainEvent, key: str,
                cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        cursor.execute(f"DELETE FROM {table} WHERE stack_id = ? AND key = ?", (stack_id, key))
        if cursor.rowcount:
            cursor.execute(f"UPDATE stacks SET {counter} = {counter} - 1 WHERE id = ?",
                           (stack_id,))
