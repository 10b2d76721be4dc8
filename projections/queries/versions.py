"""The `state_versions` read model: user-visible snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class VersionRecord(Record):
    stack_id: str
    stack: str
    version: int
    creator: str
    description: str
    created_at: str
    position: int
    event_id: int
    deleted_at: str | None
    deleted_by: str | None
    state: dict[str, Any]

    def to_json(self, *, with_state: bool = True) -> dict[str, Any]:
        document = Record.to_json(self)
        if not with_state:
            del document["state"]
        return document


_VERSION_COLUMNS = (
    "stack_id, stack_name, version, creator, description, created_at, position, event_id,"
    " deleted_at, deleted_by"
)


def list_versions(connection: Connection, stack_id: str, *,
                  include_deleted: bool = False) -> list[VersionRecord]:
    """A stack's snapshots, newest first (their states are not loaded)."""
    where = "" if include_deleted else " AND deleted_at IS NULL"
    rows = connection.execute(
        f"SELECT {_VERSION_COLUMNS} FROM state_versions WHERE stack_id = ?{where}"
        " ORDER BY version DESC", (stack_id,)).fetchall()
    return [VersionRecord(*(*row, {})) for row in rows]


def find_version(connection: Connection, stack_id: str,
                 version: int) -> VersionRecord | None:
    row = connection.execute(
        f"SELECT {_VERSION_COLUMNS}, state_data FROM state_versions"
        " WHERE stack_id = ? AND version = ?", (stack_id, version)).fetchone()
    if row is None:
        return None
    return VersionRecord(*(*row[:-1], orjson.loads(row[-1])))
