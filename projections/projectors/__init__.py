"""Projectors: each turns events into the rows of the read models it owns.

One module per projection; `all_projectors` lists them in the order they run on each event
(the stacks projection first: others read the stack's name from it).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import orjson

from domain.events import DomainEvent
from projections import schema

if TYPE_CHECKING:
    from eventsourcing.application import Application


def dump(value: Any) -> str:
    return orjson.dumps(value).decode()


class Projector(ABC):
    """Handles events for one projection; re-processing an event leaves the same rows."""

    spec: ClassVar[schema.ProjectionSpec]

    @abstractmethod
    def project(self, cursor: sqlite3.Cursor, event: DomainEvent, position: int) -> None:
        """Apply one event, at this log position, to the projection's rows."""


def all_projectors(store: Application[UUID]) -> list[Projector]:
    """Every projection's projector, in the order they see each event."""
    from projections.projectors.audit import AuditProjector
    from projections.projectors.dependencies import DependencyProjector
    from projections.projectors.executions import ExecutionProjector
    from projections.projectors.hooks import HookProjector
    from projections.projectors.locks import LockProjector
    from projections.projectors.resources import ResourceProjector
    from projections.projectors.stacks import StackProjector
    from projections.projectors.validations import ValidationProjector
    from projections.projectors.versions import VersionProjector

    return [StackProjector(), AuditProjector(), LockProjector(), VersionProjector(store),
            DependencyProjector(), ValidationProjector(), ResourceProjector(),
            ExecutionProjector(), HookProjector()]
