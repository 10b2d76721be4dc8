"""The `hooks` read model: every hook name ever added, its definition and whether it is on."""

from __future__ import annotations

from domain.events import DomainEvent
from domain.hooks import Hook
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import Projector, dump


class HookProjector(Projector):
    """Maintains `hooks`: one row per hook name; a removed hook keeps its row."""

    spec = schema.HOOKS

    def handles(self, event_type: type[DomainEvent]) -> bool:
        return issubclass(event_type, Hook.Event)

    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        if not isinstance(event, Hook.Event):
            return
        at, hook = to_text(event.timestamp), str(event.originator_id)
        if isinstance(event, Hook.Added):
            cursor.execute(
                "INSERT INTO hooks (id, name, incarnation, enabled, removed_at, spec, from_start,"
                " added_position, added_at, added_by, updated_at, updated_by, event_version)"
                " VALUES (?, ?, 1, 1, NULL, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET incarnation = hooks.incarnation + 1,"
                " enabled = 1, removed_at = NULL, spec = excluded.spec,"
                " from_start = excluded.from_start, added_position = excluded.added_position,"
                " added_at = excluded.added_at, added_by = excluded.added_by,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by,"
                " event_version = excluded.event_version"
                " WHERE hooks.event_version < excluded.event_version",
                (hook, event.name, dump(event.spec.model_dump(mode="json")),
                 int(event.from_start), position, at, event.actor, at, event.actor,
                 event.originator_version))
            return
        values: tuple[str, ...] = ()
        if isinstance(event, Hook.Removed):
            change, values = "removed_at = ?", (at,)
        elif isinstance(event, Hook.Enabled):
            change = "enabled = 1"
        elif isinstance(event, Hook.Disabled):
            change = "enabled = 0"
        else:
            return
        cursor.execute(
            f"UPDATE hooks SET {change}, updated_at = ?, updated_by = ?, event_version = ?"
            " WHERE id = ? AND event_version < ?",
            (*values, at, event.actor, event.originator_version, hook,
             event.originator_version))
