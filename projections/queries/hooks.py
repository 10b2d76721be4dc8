"""The `hooks` read model: hooks added with `hooks add` (the config file declares others)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from infrastructure.sql import Connection
from projections.queries import Record


@dataclass(frozen=True, slots=True)
class HookRecord(Record):
    id: str
    name: str
    incarnation: int
    enabled: bool
    removed_at: str | None
    spec: dict[str, Any]
    """The definition as stored: on, stacks, action, timeout_ms, retries."""
    from_start: bool
    added_position: int
    added_at: str
    added_by: str
    updated_at: str
    updated_by: str

    @property
    def start(self) -> int:
        """Where deliveries to this incarnation begin: after its `hook.added`, or at 0."""
        return 0 if self.from_start else self.added_position


_COLUMNS = ("id, name, incarnation, enabled, removed_at, spec, from_start, added_position,"
            " added_at, added_by, updated_at, updated_by")


def _record(row: tuple[Any, ...]) -> HookRecord:
    return HookRecord(row[0], row[1], row[2], bool(row[3]), row[4], orjson.loads(row[5]),
                      bool(row[6]), *row[7:])


def list_hooks(connection: Connection, *, include_removed: bool = False) -> list[HookRecord]:
    where = "" if include_removed else " WHERE removed_at IS NULL"
    rows = connection.execute(f"SELECT {_COLUMNS} FROM hooks{where} ORDER BY name").fetchall()
    return [_record(row) for row in rows]


def find_hook(connection: Connection, name: str) -> HookRecord | None:
    """The hook with this name, removed or not."""
    row = connection.execute(f"SELECT {_COLUMNS} FROM hooks WHERE name = ?", (name,)).fetchone()
    return _record(row) if row else None


def any_enabled(connection: Connection) -> bool:
    """Whether any added hook is on: the one question a command asks after it writes."""
    return connection.execute(
        "SELECT 1 FROM hooks WHERE enabled = 1 AND removed_at IS NULL LIMIT 1").fetchone() is not None
