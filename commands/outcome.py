"""What a command did, as every front door reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Outcome:
    """What a command did: the events it appended and the stack version it left."""

    stack: str
    stack_id: str
    version: int
    events: list[str]
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        detail = {key: json_ready(value) for key, value in self.detail.items()}
        return {"stack": self.stack, "stack_id": self.stack_id, "version": self.version,
                "events": self.events, **detail}


def json_ready(value: Any) -> Any:
    """Pydantic models (and lists of them) as their JSON form; anything else as it is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value
