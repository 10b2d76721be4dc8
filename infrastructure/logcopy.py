"""Copying the event log into another database: SQLite or PostgreSQL, either way.

Used by `db copy` (the whole log) and by point-in-time rebuilds (`projections rebuild
--into`, a prefix of it). Besides `infrastructure.eventlog` this is the only code that
touches stored events: it reads the source through the event store's notification API
(so, on PostgreSQL, nothing committed late is missed) and writes the target's event table
directly, keeping every event's position, aggregate id, version, topic and stored bytes
(the timestamps are among them). The copy is one transaction on the target, holding its
writers off: it is there whole, verified, or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.errors import CheckFailed, Conflict
from infrastructure.eventlog import EventLog

if TYPE_CHECKING:
    from eventsourcing.persistence import StoredEvent

    from infrastructure.eventstore import StackStore
    from infrastructure.sql import Connection, Cursor

BATCH = 5000
"""Events read from the source and written to the target at a time."""


class CopyMismatch(CheckFailed):
    """What the target holds after the copy differs from the source (nothing was kept)."""


@dataclass(frozen=True)
class Copied:
    """What a copy wrote."""

    events: int
    snapshots: int
    last: int
    """The position of the last event copied (0: none)."""
    digest: str
    """SHA-256 over every copied event as stored (position, id, version, topic, bytes)."""


class LogDigest:
    """A running digest of stored events, in log order, and how many it has seen."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def add(self, position: int, originator_id: UUID, version: int, topic: str,
            state: bytes) -> None:
        encoded = topic.encode()
        self._hash.update(b"".join((
            position.to_bytes(8, "big"), originator_id.bytes, version.to_bytes(8, "big"),
            len(encoded).to_bytes(4, "big"), encoded, len(state).to_bytes(8, "big"), state)))
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def copy_log(source: StackStore, target: Connection, *, until: int | None = None,
             only: Collection[int] | None = None,
             progress: Callable[[int], None] | None = None,
             described: str = "the target") -> Copied:
    """Copy the source's events (up to position `until`, or only those at the positions in
    `only`) and the library snapshots they allow into the target's empty event store.

    Raises Conflict when the target already holds events, CopyMismatch (and keeps nothing)
    when reading the target back does not give what was read from the source; messages
    name the target as `described`. `progress` is told how many events have been copied so
    far, after each batch.
    """
    dialect = target.dialect
    insert_event = (f"INSERT INTO {dialect.events_table} ({dialect.position_column},"
                    " originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)")
    source_digest = LogDigest()
    versions: dict[UUID, int] = {}
    last = 0
    with target.write_transaction() as cursor:
        dialect.lock_events(cursor)
        held = cursor.execute(f"SELECT COUNT(*) FROM {dialect.events_table}").fetchone()[0]
        if held:
            raise Conflict(f"{described} already holds {held} event"
                           f"{'s' if held != 1 else ''}; copy into an empty database")
        batch: list[tuple[Any, ...]] = []
        for notification in EventLog(source.recorder).notifications(until=until, batch=BATCH):
            position = notification.id
            if only is not None and position not in only:
                continue
            originator_id = _uuid(notification.originator_id)
            state = bytes(notification.state)
            source_digest.add(position, originator_id, notification.originator_version,
                              notification.topic, state)
            versions[originator_id] = notification.originator_version
            batch.append((position, dialect.stored_id(originator_id),
                          notification.originator_version, notification.topic, state))
            last = position
            if len(batch) >= BATCH:
                cursor.executemany(insert_event, batch)
                batch = []
                if progress is not None:
                    progress(source_digest.count)
        if batch:
            cursor.executemany(insert_event, batch)
            if progress is not None:
                progress(source_digest.count)
        if last:
            dialect.positions_written(cursor, last)
        snapshots = _copy_snapshots(source, cursor, target, versions)
        target_digest = _read_back(cursor, target)
        if (target_digest.count, target_digest.hexdigest()) != (
                source_digest.count, source_digest.hexdigest()):
            raise CopyMismatch(
                f"the copy read back differs from the source ({target_digest.count} events, "
                f"digest {target_digest.hexdigest()[:12]}, against {source_digest.count}, "
                f"{source_digest.hexdigest()[:12]}); nothing was kept")
    return Copied(events=source_digest.count, snapshots=snapshots, last=last,
                  digest=source_digest.hexdigest())


def _copy_snapshots(source: StackStore, cursor: Cursor, target: Connection,
                    versions: dict[UUID, int]) -> int:
    """The latest library snapshot of each copied stream that its copied events allow (they
    are a cache: a stream without one is replayed from its first event)."""
    from infrastructure.eventstore import SNAPSHOT_INTERVAL

    if source.snapshots is None:
        return 0
    recorder = source.snapshots.recorder
    dialect = target.dialect
    found: list[StoredEvent] = []
    for originator_id, version in versions.items():
        if version >= SNAPSHOT_INTERVAL:
            found += recorder.select_events(originator_id, lte=version, desc=True, limit=1)
    cursor.executemany(
        f"INSERT INTO {dialect.snapshots_table} (originator_id, originator_version, topic,"
        " state) VALUES (?, ?, ?, ?)",
        [(dialect.stored_id(_uuid(s.originator_id)), s.originator_version, s.topic,
          bytes(s.state)) for s in found])
    return len(found)


def _read_back(cursor: Cursor, target: Connection) -> LogDigest:
    """The digest of the target's events as its table now holds them."""
    dialect = target.dialect
    page = (f"SELECT {dialect.position_column}, originator_id, originator_version, topic, state"
            f" FROM {dialect.events_table} WHERE {dialect.position_column} > ?"
            f" ORDER BY {dialect.position_column} LIMIT ?")
    digest = LogDigest()
    after = 0
    while True:
        rows = cursor.execute(page, (after, BATCH)).fetchall()
        for position, originator_id, version, topic, state in rows:
            digest.add(int(position), _uuid(originator_id), int(version), topic, bytes(state))
        if len(rows) < BATCH:
            return digest
        after = int(rows[-1][0])


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
