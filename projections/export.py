"""The raw event log, for auditors: every stored field, in log order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from infrastructure.eventlog import EventLog

_ENVELOPE = ("timestamp", "actor", "source", "correlation_id")


def export_events(log: EventLog, names: Mapping[str, str],
                  stack_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield each stored event as a JSON-ready document, oldest first.

    `names` maps stack ids to names; `stack_id` keeps only that stack's events.
    """
    for notification in log.notifications():
        stack = str(notification.originator_id)
        if stack_id is not None and stack != stack_id:
            continue
        data = orjson.loads(notification.state)
        document = {
            "position": notification.id,
            "stack_id": stack,
            "stack": names.get(stack, ""),
            "stack_version": notification.originator_version,
            "type": notification.topic,
        }
        for field in _ENVELOPE:
            document[field] = data.pop(field, None)
        document["data"] = data
        yield document
