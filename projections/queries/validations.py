"""The `stack_validations` read model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from projections.queries import Record

if TYPE_CHECKING:
    from infrastructure.sql import Connection


@dataclass(frozen=True, slots=True)
class ValidationRecord(Record):
    """A stack's last validation."""

    stack: str
    result: str
    checks: list[dict[str, str]]
    validated_at: str
    validated_by: str
    correlation_id: str


def last_validations(connection: Connection) -> dict[str, ValidationRecord]:
    """Each validated stack's last validation, by stack name."""
    rows = connection.execute(
        "SELECT s.name, v.result, v.checks, v.validated_at, v.validated_by, v.correlation_id"
        " FROM stack_validations v JOIN stacks s ON s.id = v.stack_id"
    ).fetchall()
    return {row[0]: ValidationRecord(row[0], row[1], orjson.loads(row[2]), *row[3:])
            for row in rows}
