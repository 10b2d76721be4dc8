"""The raw event log, for auditors: every stored field, in log order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

_ENVELOPE = ("timestamp", "actor", "source", "correlation_id")
BATCH = 1000


def export_events(connection: sqlite3.Connection, stack_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield each stored event as a JSON-ready document, oldest first."""
    names = dict(connection.execute("SELECT id, name FROM stacks").fetchall())
    after = 0
    while True:
        if stack_id is None:
            rows = connection.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
                " WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, BATCH)).fetchall()
        else:
            rows = connection.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
                " WHERE originator_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                (stack_id.replace("-", ""), after, BATCH)).fetchall()
        if not rows:
            return
        for position, originator, version, topic, state in rows:
            data = orjson.loads(state)
            stack = _uuid_text(originator)
            document = {
                "position": position,
                "stack_id": stack,
                "stack": names.get(stack, ""),
                "stack_version": version,
                "type": topic,
            }
            for field in _ENVELOPE:
                document[field] = data.pop(field, None)
            document["data"] = data
            yield document
        after = rows[-1][0]


def _uuid_text(value: str) -> str:
    """Stored ids are 32 hex digits; show them in the usual dashed form."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value
