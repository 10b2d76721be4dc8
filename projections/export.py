"""The raw event log, for auditors: every stored field, in log order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from domain.errors import InvalidInput
from infrastructure.eventlog import EventLog

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from infrastructure.chaincheck import Entry

_ENVELOPE = ("timestamp", "actor", "source", "correlation_id")


def export_events(log: EventLog, names: Mapping[str, str],
                  stack_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield each stored event as a JSON-ready document, oldest first, with its link in the
    event chain: `hash` (hex) and `previous_position` (both null for an unchained event).

    `names` maps stack ids to names; `stack_id` keeps only that stack's events. Where the
    document's fields do not give back the stored bytes exactly (`stored_state`), the
    stored state is added as text (`state`), so that the export can be verified offline.
    """
    for notification, link in log.linked_notifications():
        if stack_id is not None and str(notification.originator_id) != stack_id:
            continue
        document = event_document(notification, names)
        document["hash"] = link.digest.hex() if link is not None else None
        document["previous_position"] = link.previous if link is not None else None
        if stored_state(document) != notification.state:
            document["state"] = notification.state.decode()
        yield document


def stored_state(document: Mapping[str, Any]) -> bytes:
    """The stored bytes of an exported event's state: its `state` text when the export has
    one, else the compact JSON of its envelope fields (those set) followed by `data`."""
    text = document.get("state")
    if isinstance(text, str):
        return text.encode()
    state = {field: document[field] for field in _ENVELOPE if document.get(field) is not None}
    state.update(document["data"])
    return orjson.dumps(state)


_REQUIRED = {"position": int, "stack_id": str, "stack_version": int, "type": str,
             "data": dict}


def export_entries(lines: Iterable[bytes], name: str) -> Iterator[Entry]:
    """The events of an export (JSON Lines) as the chain's walk reads them. A line that is not
    an exported event is `InvalidInput` naming the file and line."""
    from uuid import UUID

    from infrastructure.chaincheck import Entry

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            for field, kind in _REQUIRED.items():
                if not isinstance(document.get(field), kind):
                    raise ValueError(f"no {field}")
            digest, previous = document.get("hash"), document.get("previous_position")
            link = None
            if digest is not None or previous is not None:
                if not isinstance(digest, str) or not isinstance(previous, int):
                    raise ValueError("hash and previous_position go together")
                link = (previous, bytes.fromhex(digest))
            event = (UUID(document["stack_id"]).hex, document["stack_version"],
                     document["type"], stored_state(document))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{name} line {number} is not an exported event ({exc}); "
                               "export the log with 'sloth-runner events export'") from None
        yield Entry(document["position"], event, link)


def event_document(notification: Notification, names: Mapping[str, str]) -> dict[str, Any]:
    """One stored event as the export writes it (and hooks receive it)."""
    stack = str(notification.originator_id)
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
    return document
