"""Copying the event log as it was at a point into another database, to rebuild from there."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from infrastructure.sqlite import immediate, read_only_uri


def copy_log(source: sqlite3.Connection, target: sqlite3.Connection, *,
             until_event: int | None = None, until_time: str | None = None) -> int:
    """Copy the events up to a log position or time (and the library snapshots they allow).

    Positions are kept, so the copy's audit log shows the same event ids. Per stream, the
    events up to a time are a prefix, because a stream's timestamps never go backwards.
    Returns how many events were copied.
    """
    # Attached read-only: the source may be a database this process can only read, and
    # copying from it must not leave -wal/-shm files of ours beside it.
    source_file = source.execute("PRAGMA database_list").fetchone()[2]
    target.execute("ATTACH DATABASE ? AS source", (read_only_uri(Path(source_file)),))
    try:
        with immediate(target) as cursor:
            where, params = "1 = 1", []
            if until_time is not None:
                where = "rowid IN (SELECT id FROM source.state_events WHERE created_at <= ?)"
                params = [until_time]
            elif until_event is not None:
                where, params = "rowid <= ?", [str(until_event)]
            cursor.execute(
                "INSERT INTO main.stored_events (rowid, originator_id, originator_version, topic,"
                " state) SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM source.stored_events WHERE {where} ORDER BY rowid", params)
            copied = cursor.rowcount
            cursor.execute(
                "INSERT INTO main.stored_snapshots SELECT s.* FROM source.stored_snapshots s"
                " WHERE s.originator_version <= (SELECT MAX(e.originator_version)"
                " FROM main.stored_events e WHERE e.originator_id = s.originator_id)")
        return copied
    finally:
        target.execute("DETACH DATABASE source")
