"""The raw event log, for auditors: every stored field, in log order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from domain.errors import InvalidInput
from domain.secrets import mask_deep
from infrastructure.eventlog import EventLog

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from infrastructure.chaincheck import Entry

_ENVELOPE = ("timestamp", "actor", "source", "correlation_id")
_STORED_ORDER = ("timestamp", "originator_topic", "actor", "source", "correlation_id")
"""How an event's state begins when stored (an aggregate's first event has its
`originator_topic` after the timestamp); its own fields follow, as in `data`."""


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
    one (and the other fields agree with it), else the compact JSON of `timestamp`,
    `originator_topic` (of `data`), `actor`, `source`, `correlation_id` (those present), then
    the rest of `data` in order."""
    text = document.get("state")
    data = document["data"]
    if isinstance(text, str) and _agrees(text, document):
        return text.encode()
    state = {}
    for field in _STORED_ORDER:
        if field in _ENVELOPE:
            if document.get(field) is not None:
                state[field] = document[field]
        elif field in data:
            state[field] = data[field]
    state.update((key, value) for key, value in data.items() if key not in state)
    return orjson.dumps(state)


def _agrees(text: str, document: Mapping[str, Any]) -> bool:
    """Whether an exported event's fields say what its `state` text holds (else the fields,
    edited, are what is verified, and do not give the stored bytes)."""
    try:
        stored = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(stored, dict):
        return False
    stored = mask_deep(stored)  # the fields show a secret as `[secret]`; the state holds it sealed
    return (all(stored.pop(field, None) == document.get(field) for field in _ENVELOPE)
            and stored == document["data"])


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
