"""The `api_tokens` read model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from infrastructure.sql import Connection
from projections.queries import Record


@dataclass(frozen=True, slots=True)
class TokenRecord(Record):
    name: str
    read_only: bool
    stacks: list[str]
    created_at: str
    created_by: str
    revoked_at: str | None
    revoked_by: str | None


_COLUMNS = "name, read_only, stacks, created_at, created_by, revoked_at, revoked_by"


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(row[0], bool(row[1]), orjson.loads(row[2]), *row[3:])


def list_tokens(connection: Connection, *,
                include_revoked: bool = False) -> list[TokenRecord]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = connection.execute(f"SELECT {_COLUMNS} FROM api_tokens{where} ORDER BY name")
    return [_token(row) for row in rows.fetchall()]


def token_by_digest(connection: Connection, digest: str) -> TokenRecord | None:
    """The live (not revoked) token whose secret has this digest."""
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM api_tokens WHERE digest = ? AND revoked_at IS NULL",
        (digest,)).fetchone()
    return _token(row) if row else None
