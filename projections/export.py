"""The raw event log, for auditors: every stored field, in log order."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from domain.secrets import mask_deep
from infrastructure.eventlog import EventLog

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

_ENVELOPE = ("timestamp", "actor", "source", "correlation_id")


def export_events(log: EventLog, names: Mapping[str, str],
                  stack_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield each stored event as a JSON-ready document, oldest first.

    `names` maps stack ids to names; `stack_id` keeps only that stack's events.
    """
    for notification in log.notifications():
        if stack_id is not None and str(notification.originator_id) != stack_id:
            continue
        yield event_document(notification, names)


def event_document(notification: Notification, names: Mapping[str, str]) -> dict[str, Any]:
    """One stored event as the export writes it (and hooks and the API receive it): every
    secret in it reads `[secret]`."""
    stack = str(notification.originator_id)
    data = orjson.loads(notification.state)
    if b'"$secret"' in notification.state:
        data = mask_deep(data)
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
    return document
