"""The base of every domain event: a frozen pydantic model with a stable dotted topic."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from pydantic import BaseModel, ConfigDict, Field

from domain.invocation import Invocation, Source


class DomainEvent(BaseModel, CanMutateAggregate[UUID]):
    """A fact about one aggregate, recorded with who caused it, from where, and in which call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str]
    class_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    actor: str
    source: Source
    correlation_id: str

    def payload(self) -> dict[str, Any]:
        """The fields that are particular to this kind of event."""
        return self.model_dump(mode="json", exclude=_COMMON_FIELDS)


_COMMON_FIELDS: set[str] = set(DomainEvent.model_fields)


def _unset(value: Any) -> bool:
    return value is None


def imported_only() -> Any:
    """A field only an import sets (`original_time`, ...): an event without it is stored,
    and shown, as if the field did not exist."""
    return Field(default=None, exclude_if=_unset)


def stamp(invocation: Invocation) -> dict[str, Any]:
    """The fields every event takes from the invocation that caused it."""
    return {
        "actor": invocation.actor,
        "source": invocation.source,
        "correlation_id": invocation.correlation_id,
        "timestamp": invocation.at,
    }


def upcast(cls: type[Any], state: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored state up to `cls.class_version` through the class's upcasters.

    The state records the version it was stored at (`class_version`, absent for 1); each
    `upcast_vN_vN+1` static method changes it in place by one version.
    """
    from_version = state.pop("class_version", 1)
    to_version = getattr(cls, "class_version", 1)
    while from_version < to_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1
    return state
