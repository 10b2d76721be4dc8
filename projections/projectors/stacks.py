"""The `stacks`, `state_values` and `stack_outputs` read models."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import Projector, dump


class StackProjector(Projector):
    """Maintains `stacks`, `state_values` and `stack_outputs`."""

    spec = schema.STACKS

    def __init__(self) -> None:
        super().__init__()
        # Within one transaction (the runner holds the write lock): the last stream version
        # applied to each stack seen, and the stamp (updated at, by, version) still to write.
        self._applied: dict[str, int] = {}
        self._stamps: dict[str, tuple[str, str, int]] = {}
        # Values and outputs set (a row) or deleted (None) since, by stack, table and key.
        self._pending: dict[str, dict[tuple[str, str], tuple[str, str, str] | None]] = {}

    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        # Each row records the last stream version applied, which makes replays harmless.
        stack_id, version = str(event.originator_id), event.originator_version
        applied = self._applied.get(stack_id)
        if applied is None:
            row = cursor.execute(
                "SELECT event_version FROM stacks WHERE id = ?", (stack_id,)).fetchone()
            applied = row[0] if row is not None else None
        if isinstance(event, Stack.Created):
            if applied is not None and version <= applied:
                return
            self._stamps.pop(stack_id, None)  # the creation stamps the row itself
        else:
            if applied is None or version <= applied:
                return
            # The stamp of a stack's last event in the batch is written once, by `flush`.
            self._stamps[stack_id] = (to_text(event.timestamp), event.actor, version)
        self._applied[stack_id] = version
        handler = self.handler(type(event))
        if handler is not None:
            handler(event, cursor, position)

    def flush(self, cursor: Cursor) -> None:
        self._write_values(cursor)
        stamps, self._stamps, self._applied = self._stamps, {}, {}
        cursor.executemany(
            "UPDATE stacks SET updated_at = ?, updated_by = ?, event_version = ? WHERE id = ?",
            [(*stamp, stack_id) for stack_id, stamp in stamps.items()])

    def discard(self) -> None:
        self._stamps, self._applied, self._pending = {}, {}, {}

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Events that change nothing but the stack's last-updated stamp."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: Cursor, position: int) -> None:
        stack_id = str(event.originator_id)
        at = to_text(event.timestamp)
        created = to_text(event.original_time) if event.original_time else at
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
            (stack_id, event.name, event.description, created, at, event.originator_version,
             event.actor, event.actor),
        )
        self._pending.pop(stack_id, None)  # all gone, as far as the new incarnation knows
        cursor.execute("DELETE FROM state_values WHERE stack_id = ?", (stack_id,))
        cursor.execute("DELETE FROM stack_outputs WHERE stack_id = ?", (stack_id,))

    @handle.register
    def _updated(self, event: Stack.Updated, cursor: Cursor, position: int) -> None:
        if event.description is not None:
            cursor.execute("UPDATE stacks SET description = ? WHERE id = ?",
                           (event.description, str(event.originator_id)))
        if event.status is not None:
            cursor.execute("UPDATE stacks SET status = ? WHERE id = ?",
                           (event.status.value, str(event.originator_id)))

    @handle.register
    def _destroyed(self, event: Stack.Destroyed, cursor: Cursor, position: int) -> None:
        cursor.execute(
            "UPDATE stacks SET status = 'destroyed', destroyed_at = ? WHERE id = ?",
            (to_text(event.timestamp), str(event.originator_id)),
        )

    @handle.register
    def _snapshot_created(self, event: Stack.SnapshotCreated, cursor: Cursor,
                          position: int) -> None:
        cursor.execute("UPDATE stacks SET version = ? WHERE id = ?",
                       (event.version, str(event.originator_id)))

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: Cursor,
                  position: int) -> None:
        stack_id = str(event.originator_id)
        state = event.state
        self._pending.pop(stack_id, None)  # replaced whole, below
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
    def _run_started(self, event: Stack.ExecutionStarted, cursor: Cursor,
                     position: int) -> None:
        cursor.execute(
            "UPDATE stacks SET status = 'running', last_execution = ?, last_duration_ms = NULL,"
            " execution_count = execution_count + 1,"
            " running_executions = running_executions + 1 WHERE id = ?",
            (to_text(event.original_time or event.timestamp), str(event.originator_id)))

    @handle.register
    def _imported(self, event: Stack.Imported, cursor: Cursor, position: int) -> None:
        # What the tool it came from showed for its runs, which may count more than it kept.
        if event.executions is not None:
            cursor.execute(
                "UPDATE stacks SET execution_count = ?, last_execution = ?,"
                " last_duration_ms = ? WHERE id = ?",
                (event.executions, to_text(event.last_run) if event.last_run else None,
                 event.last_duration_ms, str(event.originator_id)))

    @handle.register(Stack.ExecutionCompleted)
    @handle.register(Stack.ExecutionFailed)
    def _run_ended(self, event: Stack.ExecutionCompleted | Stack.ExecutionFailed,
                   cursor: Cursor, position: int) -> None:
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
    def _state_set(self, event: Stack.StateSet, cursor: Cursor, position: int) -> None:
        self._put("state_values", event, event.key, event.value)

    @handle.register
    def _state_deleted(self, event: Stack.StateDeleted, cursor: Cursor,
                       position: int) -> None:
        self._delete("state_values", event, event.key)

    @handle.register
    def _output_set(self, event: Stack.OutputSet, cursor: Cursor, position: int) -> None:
        self._put("stack_outputs", event, event.key, event.value)

    @handle.register
    def _output_deleted(self, event: Stack.OutputDeleted, cursor: Cursor,
                        position: int) -> None:
        self._delete("stack_outputs", event, event.key)

    def _put(self, table: str, event: DomainEvent, key: str, value: Any) -> None:
        # Kept until `flush`: a batch often sets the same keys again and again.
        self._pending.setdefault(str(event.originator_id), {})[table, key] = (
            dump(value), to_text(event.timestamp), event.actor)

    def _delete(self, table: str, event: DomainEvent, key: str) -> None:
        self._pending.setdefault(str(event.originator_id), {})[table, key] = None

    def _write_values(self, cursor: Cursor) -> None:
        """Write the values and outputs kept back, then count each touched stack's again."""
        pending, self._pending = self._pending, {}
        for table in ("state_values", "stack_outputs"):
            cursor.executemany(
                f"INSERT INTO {table} (stack_id, key, value, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (stack_id, key) DO UPDATE SET"
                " value = excluded.value, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                [(stack_id, key, *row) for stack_id, entries in pending.items()
                 for (where, key), row in entries.items() if where == table and row])
            cursor.executemany(
                f"DELETE FROM {table} WHERE stack_id = ? AND key = ?",
                [(stack_id, key) for stack_id, entries in pending.items()
                 for (where, key), row in entries.items() if where == table and not row])
        cursor.executemany(
            "UPDATE stacks SET"
            " value_count = (SELECT COUNT(*) FROM state_values WHERE stack_id = ?),"
            " output_count = (SELECT COUNT(*) FROM stack_outputs WHERE stack_id = ?)"
            " WHERE id = ?", [(stack_id,) * 3 for stack_id in pending])
