"""The `state_locks` read model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class LockRecord(Record):
    stack_id: str
    stack: str
    lock_id: str
    locked_by: str
    acquired_by_actor: str
    locked_at: str
    expires_at: str
    operation: str
    reason: str
    metadata: dict[str, str]
    generation: int
    renewed_at: str | None


_LOCK_COLUMNS = (
    "stack_id, stack_name, lock_id, locked_by, acquired_by_actor, locked_at, expires_at,"
    " operation, reason, metadata, generation, renewed_at"
)


def _lock(row: tuple[Any, ...]) -> LockRecord:
    values = list(row)
    values[9] = orjson.loads(values[9])
    return LockRecord(*values)


def find_lock(connection: Connection, stack_id: str) -> LockRecord | None:
    row = connection.execute(
        f"SELECT {_LOCK_COLUMNS} FROM state_locks WHERE stack_id = ?", (stack_id,)
    ).fetchone()
    return _lock(row) if row else None


def list_locks(connection: Connection) -> list[LockRecord]:
    rows = connection.execute(
        f"SELECT {_LOCK_COLUMNS} FROM state_locks ORDER BY stack_name"
    ).fetchall()
    return [_lock(row) for row in rows]
