"""The `api_tokens` read model: every token by name, its digest, limits and revocation."""

from __future__ import annotations

from functools import singledispatchmethod

from domain.events import DomainEvent
from domain.timestamps import to_text
from domain.tokens import ApiToken
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import DispatchingProjector, dump


class TokenProjector(DispatchingProjector):
    """Maintains `api_tokens` (what the server looks a presented secret up in)."""

    spec = schema.TOKENS

    @singledispatchmethod
    def handle(self, event: DomainEvent, cursor: Cursor, position: int) -> None:
        """Other events are not about tokens."""

    @handle.register
    def _created(self, event: ApiToken.Created, cursor: Cursor, position: int) -> None:
        cursor.execute(
            "INSERT INTO api_tokens (name, digest, read_only, stacks, created_at, created_by,"
            " revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)"
            " ON CONFLICT (name) DO UPDATE SET digest = excluded.digest,"
            " read_only = excluded.read_only, stacks = excluded.stacks,"
            " created_at = excluded.created_at, created_by = excluded.created_by,"
            " revoked_at = NULL, revoked_by = NULL",
            (event.name, event.digest, int(event.read_only), dump(event.stacks),
             to_text(event.timestamp), event.actor))

    @handle.register
    def _revoked(self, event: ApiToken.Revoked, cursor: Cursor, position: int) -> None:
        cursor.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE name = ?",
                       (to_text(event.timestamp), event.actor, event.name))
