"""Projectors: each turns events into the rows of the read models it owns."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections import Counter
from functools import singledispatchmethod
from typing import Any, ClassVar
from uuid import UUID, uuid5

import orjson
from eventsourcing.application import Application

from domain.drift import DriftStatus, ResourceDrift
from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from projections import schema
from projections.audit import summarize


def dump(value: Any) -> str:
    return orjson.dumps(value).decode()


class Projector(ABC):
    """Handles events for one projection; re-processing an event leaves the same rows."""

    spec: ClassVar[schema.ProjectionSpec]

    @abstractmethod
    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        """Apply one event, at this log position, to the projection's rows."""


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
        cursor.execute(
            "UPDATE stacks SET description = ?, status = ?, destroyed_at = ?,"
            " value_count = ?, output_count = ? WHERE id = ?",
            (state.description, state.status,
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


class AuditProjector(Projector):
    """Maintains `state_events`: one row per event, with a one-line summary."""

    spec = schema.AUDIT

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # a stack's id never changes its name (uuid5)

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        stack_id = str(event.originator_id)
        if isinstance(event, Stack.Created):
            name = self._names[stack_id] = event.name
        elif stack_id in self._names:
            name = self._names[stack_id]
        else:
            row = cursor.execute(
                "SELECT stack_name FROM state_events WHERE stack_id = ? LIMIT 1", (stack_id,)
            ).fetchone()
            name = self._names[stack_id] = row[0] if row else ""
        severity, message = summarize(event)
        cursor.execute(
            "INSERT OR REPLACE INTO state_events (id, stack_id, stack_name, stack_version,"
            " event_type, severity, message, source, actor, correlation_id, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (position, stack_id, name, event.originator_version, type(event).TOPIC, severity,
             message, event.source.value, event.actor, event.correlation_id,
             to_text(event.timestamp), dump(event.payload())),
        )


class LockProjector(Projector):
    """Maintains `state_locks`: one row per stack whose lock is present (held or expired)."""

    spec = schema.LOCKS

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        self.handle(event, cursor)

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor) -> None:
        """Other events leave locks as they are."""

    @handle.register
    def _acquired(self, event: Stack.LockAcquired, cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        name = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute(
            "INSERT OR REPLACE INTO state_locks (stack_id, stack_name, lock_id, locked_by,"
            " acquired_by_actor, locked_at, expires_at, operation, reason, metadata, generation,"
            " renewed_at, event_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (stack_id, name[0] if name else "", event.lock_id, event.locked_by, event.actor,
             to_text(event.timestamp), to_text(event.expires_at), event.operation, event.reason,
             dump(event.metadata), event.generation, event.originator_version),
        )

    @handle.register
    def _renewed(self, event: Stack.LockRenewed, cursor: sqlite3.Cursor) -> None:
        cursor.execute(
            "UPDATE state_locks SET expires_at = ?, renewed_at = ?, event_version = ?"
            " WHERE stack_id = ? AND lock_id = ?",
            (to_text(event.expires_at), to_text(event.timestamp), event.originator_version,
             str(event.originator_id), event.lock_id),
        )

    @handle.register(Stack.LockReleased)
    @handle.register(Stack.LockForceReleased)
    @handle.register(Stack.LockExpired)
    def _removed(self, event: DomainEvent, cursor: sqlite3.Cursor) -> None:
        cursor.execute("DELETE FROM state_locks WHERE stack_id = ? AND lock_id = ?",
                       (str(event.originator_id), getattr(event, "lock_id", "")))


class VersionProjector(Projector):
    """Maintains `state_versions`; each version's state is derived by replaying the stream."""

    spec = schema.VERSIONS

    def __init__(self, store: Application[UUID]) -> None:
        self.store = store

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        self.handle(event, cursor, position)

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor, position: int) -> None:
        """Other events do not change versions."""

    @handle.register
    def _created(self, event: Stack.SnapshotCreated, cursor: sqlite3.Cursor,
                 position: int) -> None:
        stack: Stack = self.store.repository.get(event.originator_id,
                                                 version=event.originator_version)
        cursor.execute(
            "INSERT OR REPLACE INTO state_versions (stack_id, stack_name, version, creator,"
            " description, state_data, created_at, position, event_id, deleted_at, deleted_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            (str(event.originator_id), stack.name, event.version, event.creator,
             event.description, dump(stack.user_state().model_dump(mode="json")),
             to_text(event.timestamp), event.originator_version, position),
        )

    @handle.register
    def _deleted(self, event: Stack.SnapshotDeleted, cursor: sqlite3.Cursor,
                 position: int) -> None:
        cursor.execute(
            "UPDATE state_versions SET deleted_at = ?, deleted_by = ?"
            " WHERE stack_id = ? AND version = ?",
            (to_text(event.timestamp), event.actor, str(event.originator_id), event.version),
        )


class DependencyProjector(Projector):
    """Maintains `stack_dependencies`: one row per declared edge, kept while destroyed."""

    spec = schema.DEPENDENCIES

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        self.handle(event, cursor)

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor) -> None:
        """Other events leave dependencies as they are."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: sqlite3.Cursor) -> None:
        # Created again after a destroy, a stack starts without dependencies.
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ?",
                       (str(event.originator_id),))

    @handle.register
    def _added(self, event: Stack.DependencyAdded, cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        # The stacks projector has seen the stack's creation: it runs first on every event.
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute(
            "INSERT OR REPLACE INTO stack_dependencies (stack_id, stack_name, depends_on,"
            " added_at, added_by) VALUES (?, ?, ?, ?, ?)",
            (stack_id, name, event.depends_on, to_text(event.timestamp), event.actor),
        )

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: sqlite3.Cursor) -> None:
        stack_id = str(event.originator_id)
        (name,) = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ?", (stack_id,))
        cursor.executemany(
            "INSERT INTO stack_dependencies (stack_id, stack_name, depends_on, added_at,"
            " added_by) VALUES (?, ?, ?, ?, ?)",
            [(stack_id, name, other, to_text(event.timestamp), event.actor)
             for other in event.state.dependencies],
        )

    @handle.register
    def _removed(self, event: Stack.DependencyRemoved, cursor: sqlite3.Cursor) -> None:
        cursor.execute("DELETE FROM stack_dependencies WHERE stack_id = ? AND depends_on = ?",
                       (str(event.originator_id), event.depends_on))


class ValidationProjector(Projector):
    """Maintains `stack_validations`: each stack's last validation, its checks and outcome."""

    spec = schema.VALIDATIONS

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        if isinstance(event, Stack.ValidationPassed | Stack.ValidationFailed):
            cursor.execute(
                "INSERT OR REPLACE INTO stack_validations (stack_id, result, checks,"
                " validated_at, validated_by, correlation_id) VALUES (?, ?, ?, ?, ?, ?)",
                (str(event.originator_id),
                 "passed" if isinstance(event, Stack.ValidationPassed) else "failed",
                 dump(event.payload()["checks"]), to_text(event.timestamp), event.actor,
                 event.correlation_id),
            )


def resource_row_id(stack_id: str, name: str) -> str:
    """A resource's id: one per stack and name, the same in every rebuild."""
    return str(uuid5(UUID(stack_id), name))


class ResourceProjector(Projector):
    """Maintains `resources` (declared, last observed, drift) and each stack's `drift_reports`."""

    spec = schema.RESOURCES

    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        self.handle(event, cursor, position)

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: sqlite3.Cursor, position: int) -> None:
        """Other events leave resources as they are."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: sqlite3.Cursor, position: int) -> None:
        # Created again after being destroyed: a fresh start, history aside.
        stack_id = str(event.originator_id)
        cursor.execute("DELETE FROM resource_declarations WHERE id IN"
                       " (SELECT id FROM resources WHERE stack_id = ?)", (stack_id,))
        cursor.execute("DELETE FROM resources WHERE stack_id = ?", (stack_id,))
        cursor.execute("DELETE FROM drift_reports WHERE stack_id = ?", (stack_id,))

    @handle.register
    def _declared(self, event: Stack.ResourceDeclared, cursor: sqlite3.Cursor,
                  position: int) -> None:
        stack_id, at = str(event.originator_id), to_text(event.timestamp)
        row_id = resource_row_id(stack_id, event.name)
        cursor.execute(
            "INSERT OR REPLACE INTO resources (id, stack_id, name, type, state, dependencies,"
            " observed, drift, reason, declared_at, declared_by, updated_at, updated_by,"
            " checked_at, checked_by)"
            " VALUES (?, ?, ?, ?, 'pending', ?, NULL, '[]', '', ?, ?, ?, ?, NULL, NULL)",
            (row_id, stack_id, event.name, event.type, dump(event.depends_on), at, event.actor,
             at, event.actor),
        )
        cursor.execute("INSERT OR REPLACE INTO resource_declarations (id, desired) VALUES (?, ?)",
                       (row_id, dump(event.attributes)))

    @handle.register
    def _updated(self, event: Stack.ResourceUpdated, cursor: sqlite3.Cursor,
                 position: int) -> None:
        # The last observation stays on record, but it was judged against the old declaration.
        row_id = resource_row_id(str(event.originator_id), event.name)
        cursor.execute(
            "UPDATE resources SET type = ?, dependencies = ?, state = 'pending', drift = '[]',"
            " reason = '', updated_at = ?, updated_by = ? WHERE id = ?",
            (event.type, dump(event.depends_on), to_text(event.timestamp), event.actor, row_id),
        )
        cursor.execute("UPDATE resource_declarations SET desired = ? WHERE id = ?",
                       (dump(event.attributes), row_id))

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: sqlite3.Cursor,
                  position: int) -> None:
        # The declarations come back as they were; the real world is observed afresh.
        stack_id, at = str(event.originator_id), to_text(event.timestamp)
        cursor.execute("DELETE FROM resource_declarations WHERE id IN"
                       " (SELECT id FROM resources WHERE stack_id = ?)", (stack_id,))
        cursor.execute("DELETE FROM resources WHERE stack_id = ?", (stack_id,))
        for resource in event.state.resources.values():
            row_id = resource_row_id(stack_id, resource.name)
            cursor.execute(
                "INSERT INTO resources (id, stack_id, name, type, state, dependencies, observed,"
                " drift, reason, declared_at, declared_by, updated_at, updated_by, checked_at,"
                " checked_by) VALUES (?, ?, ?, ?, 'pending', ?, NULL, '[]', '', ?, ?, ?, ?,"
                " NULL, NULL)",
                (row_id, stack_id, resource.name, resource.type, dump(list(resource.depends_on)),
                 at, event.actor, at, event.actor),
            )
            cursor.execute("INSERT INTO resource_declarations (id, desired) VALUES (?, ?)",
                           (row_id, dump(resource.attributes)))

    @handle.register
    def _removed(self, event: Stack.ResourceRemoved, cursor: sqlite3.Cursor,
                 position: int) -> None:
        row_id = resource_row_id(str(event.originator_id), event.name)
        cursor.execute("DELETE FROM resources WHERE id = ?", (row_id,))
        cursor.execute("DELETE FROM resource_declarations WHERE id = ?", (row_id,))

    @handle.register
    def _observed(self, event: Stack.DriftDetected, cursor: sqlite3.Cursor,
                  position: int) -> None:
        # Every declared resource was checked; those the event does not list were in sync.
        stack_id = str(event.originator_id)
        cursor.execute(
            "UPDATE resources SET state = 'in_sync', observed = NULL, drift = '[]', reason = '',"
            " checked_at = ?, checked_by = ? WHERE stack_id = ?"
            " AND name NOT IN (SELECT value FROM json_each(?))",
            (to_text(event.timestamp), event.actor, stack_id,
             dump([r.name for r in event.resources])),
        )
        self._observations(cursor, event, [(r, r.reason) for r in event.resources])
        counts = Counter(r.status for r in event.resources)
        cursor.execute(
            "INSERT INTO drift_reports (stack_id, event_id, event_type, checked_at, checked_by,"
            " correlation_id, total, in_sync, drifted, unknown, report)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (stack_id) DO UPDATE SET event_id = excluded.event_id,"
            " event_type = excluded.event_type, checked_at = excluded.checked_at,"
            " checked_by = excluded.checked_by, correlation_id = excluded.correlation_id,"
            " total = excluded.total, in_sync = excluded.in_sync, drifted = excluded.drifted,"
            " unknown = excluded.unknown, report = excluded.report, fix_event_id = NULL,"
            " fixed_at = NULL, fixed_by = NULL, fix_mode = NULL, fix = NULL",
            (stack_id, position, type(event).TOPIC, to_text(event.timestamp), event.actor,
             event.correlation_id, event.checked, event.checked - len(event.resources),
             counts[DriftStatus.DRIFTED], counts[DriftStatus.UNKNOWN],
             dump([r.model_dump(mode="json") for r in event.resources])),
        )

    @handle.register
    def _fixed(self, event: Stack.DriftFixed, cursor: sqlite3.Cursor, position: int) -> None:
        self._observations(cursor, event, [(fix.after, fix.reason or fix.after.reason)
                                           for fix in event.resources])
        cursor.execute(
            "INSERT INTO drift_reports (stack_id, fix_event_id, fixed_at, fixed_by, fix_mode, fix)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (stack_id) DO UPDATE SET fix_event_id = excluded.fix_event_id,"
            " fixed_at = excluded.fixed_at, fixed_by = excluded.fixed_by,"
            " fix_mode = excluded.fix_mode, fix = excluded.fix",
            (str(event.originator_id), position, to_text(event.timestamp), event.actor,
             event.mode.value, dump([fix.model_dump(mode="json") for fix in event.resources])),
        )

    @staticmethod
    def _observations(cursor: sqlite3.Cursor, event: DomainEvent,
                      observations: list[tuple[ResourceDrift, str]]) -> None:
        """What was observed of each resource.

        `observed` holds what was seen when the resource was not in sync (NULL once it
        matches its desired state again); an unreadable one keeps its last observation.
        """
        stack_id, at = str(event.originator_id), to_text(event.timestamp)
        cursor.executemany(
            "UPDATE resources SET state = ?1, observed = CASE WHEN ?1 = 'in_sync' THEN NULL"
            " ELSE COALESCE(?2, observed) END, drift = ?3, reason = ?4, checked_at = ?5,"
            " checked_by = ?6 WHERE stack_id = ?7 AND name = ?8",
            [(drift.status.value, None if drift.observed is None else dump(drift.observed),
              dump([d.model_dump(mode="json") for d in drift.differences])
              if drift.differences else "[]",
              reason, at, event.actor, stack_id, drift.name)
             for drift, reason in observations],
        )


def all_projectors(store: Application[UUID]) -> list[Projector]:
    return [StackProjector(), AuditProjector(), LockProjector(), VersionProjector(store),
            DependencyProjector(), ValidationProjector(), ResourceProjector()]
