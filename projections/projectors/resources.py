"""The `resources`, `resource_declarations` and `drift_reports` read models."""

from __future__ import annotations

from collections import Counter
from functools import singledispatchmethod
from uuid import UUID, uuid5

from domain.drift import DriftStatus, ResourceDrift
from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, dump, upsert


def _first_state(record_only: bool) -> str:
    """A record is never observed; anything else waits for its first observation."""
    return "recorded" if record_only else "pending"


def resource_row_id(stack_id: str, name: str) -> str:
    """A resource's id: one per stack and name, the same in every rebuild."""
    return str(uuid5(UUID(stack_id), name))


_WRITE_RESOURCE = upsert("resources", "id, stack_id, name, type, state, dependencies, observed, drift,"
                         " reason, declared_at, declared_by, updated_at, updated_by, checked_at,"
                         " checked_by", "id")


_WRITE_DECLARATION = upsert("resource_declarations", "id, desired", "id")


class ResourceProjector(DispatchingProjector):
    """Maintains `resources` (declared, last observed, drift) and each stack's `drift_reports`."""

    spec = schema.RESOURCES

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events leave resources as they are."""

    @handle.register
    def _created(self, event: Stack.Created, cursor: Cursor, position: int) -> None:
        # Created again after being destroyed: a fresh start, history aside.
        stack_id = str(event.originator_id)
        cursor.execute("DELETE FROM resource_declarations WHERE id IN"
                       " (SELECT id FROM resources WHERE stack_id = ?)", (stack_id,))
        cursor.execute("DELETE FROM resources WHERE stack_id = ?", (stack_id,))
        cursor.execute("DELETE FROM drift_reports WHERE stack_id = ?", (stack_id,))

    @handle.register
    def _declared(self, event: Stack.ResourceDeclared, cursor: Cursor,
                  position: int) -> None:
        stack_id, at = str(event.originator_id), to_text(event.timestamp)
        row_id = resource_row_id(stack_id, event.name)
        # The id is derived from (stack_id, name), so the key covers the UNIQUE pair too.
        cursor.execute(
            _WRITE_RESOURCE,
            (row_id, stack_id, event.name, event.type, _first_state(event.record_only),
             dump(event.depends_on), None, "[]", "", at, event.actor, at, event.actor, None, None),
        )
        cursor.execute(_WRITE_DECLARATION,
                       (row_id, dump(event.attributes)))

    @handle.register
    def _updated(self, event: Stack.ResourceUpdated, cursor: Cursor,
                 position: int) -> None:
        # The last observation stays on record, but it was judged against the old declaration.
        row_id = resource_row_id(str(event.originator_id), event.name)
        cursor.execute(
            "UPDATE resources SET type = ?, dependencies = ?, state = ?, drift = '[]',"
            " reason = '', updated_at = ?, updated_by = ? WHERE id = ?",
            (event.type, dump(event.depends_on), _first_state(event.record_only),
             to_text(event.timestamp), event.actor, row_id),
        )
        cursor.execute("UPDATE resource_declarations SET desired = ? WHERE id = ?",
                       (dump(event.attributes), row_id))

    @handle.register
    def _restored(self, event: Stack.SnapshotRestored, cursor: Cursor,
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
                " checked_by) VALUES (?, ?, ?, ?, ?, ?, NULL, '[]', '', ?, ?, ?, ?,"
                " NULL, NULL)",
                (row_id, stack_id, resource.name, resource.type,
                 _first_state(resource.record_only), dump(list(resource.depends_on)),
                 at, event.actor, at, event.actor),
            )
            cursor.execute("INSERT INTO resource_declarations (id, desired) VALUES (?, ?)",
                           (row_id, dump(resource.attributes)))

    @handle.register
    def _removed(self, event: Stack.ResourceRemoved, cursor: Cursor,
                 position: int) -> None:
        row_id = resource_row_id(str(event.originator_id), event.name)
        cursor.execute("DELETE FROM resources WHERE id = ?", (row_id,))
        cursor.execute("DELETE FROM resource_declarations WHERE id = ?", (row_id,))

    @handle.register(Stack.DriftDetected)
    @handle.register(Stack.DriftChecked)
    def _observed(self, event: Stack.DriftDetected | Stack.DriftChecked,
                  cursor: Cursor, position: int) -> None:
        # Every declared resource was checked; those the event does not list were in sync.
        stack_id = str(event.originator_id)
        listed = [r.name for r in event.resources]
        cursor.execute(
            "UPDATE resources SET state = 'in_sync', observed = NULL, drift = '[]', reason = '',"
            " checked_at = ?, checked_by = ? WHERE stack_id = ? AND state != 'recorded'"
            + (f" AND name NOT IN ({', '.join('?' * len(listed))})" if listed else ""),
            (to_text(event.timestamp), event.actor, stack_id, *listed),
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
    def _fixed(self, event: Stack.DriftFixed, cursor: Cursor, position: int) -> None:
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
    def _observations(cursor: Cursor, event: DomainEvent,
                      observations: list[tuple[ResourceDrift, str]]) -> None:
        """What was observed of each resource.

        `observed` holds what was seen when the resource was not in sync (NULL once it
        matches its desired state again); an unreadable one keeps its last observation.
        """
        stack_id, at = str(event.originator_id), to_text(event.timestamp)
        cursor.executemany(
            "UPDATE resources SET state = ?, observed = CASE WHEN ? = 'in_sync' THEN NULL"
            " ELSE COALESCE(?, observed) END, drift = ?, reason = ?, checked_at = ?,"
            " checked_by = ? WHERE stack_id = ? AND name = ?",
            [(drift.status.value, drift.status.value,
              None if drift.observed is None else dump(drift.observed),
              dump([d.model_dump(mode="json") for d in drift.differences])
              if drift.differences else "[]",
              reason, at, event.actor, stack_id, drift.name)
             for drift, reason in observations],
        )
