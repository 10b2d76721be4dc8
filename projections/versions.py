"""A stack's live snapshot versions as every front door looks one up, and compares two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.errors import StackNotFound
from domain.names import stack_id, validate_stack_name
from domain.timestamps import from_text
from domain.versions import (
    SnapshotDeleted,
    SnapshotNotFound,
    StackState,
    StateDiff,
    VersionMark,
    diff_states,
    parse_version,
)
from infrastructure.sql import Connection
from projections.queries.stacks import is_known_stack
from projections.queries.versions import VersionRecord, find_version

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.application import Application

    from domain.stack import Stack

CURRENT = "current"
"""Names the stack's live state where a version is expected."""


def live_version(connection: Connection, stack: str, stack_id: str,
                 text: str) -> VersionRecord:
    """The read-model record of a live version (`v5` or `5`); not found, or deleted, raise."""
    version = parse_version(text)
    record = find_version(connection, stack_id, version)
    if record is None:
        raise SnapshotNotFound(stack, version)
    if record.deleted_at is not None:
        raise SnapshotDeleted(stack, VersionMark(
            version=version, position=record.position, creator=record.creator,
            description=record.description, created_at=from_text(record.created_at),
            deleted_at=from_text(record.deleted_at), deleted_by=record.deleted_by))
    return record


@dataclass(frozen=True)
class Comparison:
    """Two states of a stack (`vN` or `current`) and what changed from the first to the second."""

    stack: str
    before: str
    after: str
    diff: StateDiff

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "from": self.before, "to": self.after,
                "empty": self.diff.is_empty, **self.diff.model_dump(mode="json")}


def compare_versions(store: Application[UUID], connection: Connection, stack: str,
                     first: str, second: str, *,
                     reveal: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                     ) -> Comparison:
    """What changed from `first` to `second`: each a live version (`v5`, `5`) or `current`.

    `snapshot compare`, the API and the web pages all compare through here. `reveal` opens
    the secrets of each state first, so that they are compared by their plaintext.
    """
    identity = stack_id(validate_stack_name(stack))
    if not is_known_stack(connection, str(identity)):
        raise StackNotFound(stack)

    def state_of(text: str) -> tuple[str, StackState]:
        if text.strip().lower() == CURRENT:
            live: Stack = store.repository.get(identity)
            return CURRENT, live.user_state()
        record = live_version(connection, stack, str(identity), text)
        return f"v{record.version}", StackState.model_validate(record.state)

    (before, state_a), (after, state_b) = state_of(first), state_of(second)
    if reveal is not None:
        state_a, state_b = (StackState.model_validate(reveal(s.model_dump(mode="json")))
                            for s in (state_a, state_b))
    return Comparison(stack, before, after, diff_states(state_a, state_b))
