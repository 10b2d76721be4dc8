"""The event log itself as an aggregate: the record that its older events were sealed.

A log stored before the event chain existed has events without links. Sealing chains them,
once, and records what it chained: how many events, up to which position, and the hash of
the last. The log has one stream (a fixed id), so a second seal conflicts with the first.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from uuid import UUID, uuid5

from eventsourcing.domain import BaseAggregate, CanInitAggregate

from domain.errors import InvalidInput
from domain.events import DomainEvent, stamp
from domain.invocation import Invocation

LOG_NAMESPACE = UUID("6f1d2c3b-4a5e-5f60-8b7c-9d0e1f2a3b4c")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def audit_log_id() -> UUID:
    """The one stream of the log's own events (prefixed: it never meets a stack's)."""
    return uuid5(LOG_NAMESPACE, "log:events")


class LogEvent(DomainEvent):
    """An event in the log's own stream."""


class LogSealed(LogEvent, CanInitAggregate[UUID]):
    """The events stored before the chain existed were chained: `events` of them, up to
    `position`, the last with hash `head` (hex)."""

    TOPIC: ClassVar[str] = "log.sealed"
    originator_topic: str
    position: int
    events: int
    head: str

    def apply(self, aggregate: Any) -> None:
        aggregate.position = self.position
        aggregate.events = self.events
        aggregate.head = self.head


class AuditLog(BaseAggregate[UUID]):
    """The event log's own stream."""

    TOPIC: ClassVar[str] = "audit_log"

    if TYPE_CHECKING:
        position: int
        events: int
        head: str

    Event: TypeAlias = LogEvent
    Sealed: TypeAlias = LogSealed

    @classmethod
    def seal(cls, position: int, events: int, head: str, invocation: Invocation) -> AuditLog:
        if events < 1 or position < events or not _DIGEST.fullmatch(head):
            raise InvalidInput("a seal covers at least one event and names its hash in hex")
        return cls._create(cls.Sealed, id=audit_log_id(), position=position, events=events,
                           head=head, **stamp(invocation))
