"""A stack's live snapshot version, as every front door looks one up."""

from __future__ import annotations

import sqlite3

from domain.timestamps import from_text
from domain.versions import SnapshotDeleted, SnapshotNotFound, VersionMark, parse_version
from projections.queries.versions import VersionRecord, find_version


def live_version(connection: sqlite3.Connection, stack: str, stack_id: str,
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
