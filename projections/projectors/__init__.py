"""Projectors: each turns events into the rows of the read models it owns.

One module per projection; `all_projectors` lists them in the order they run on each event
(the stacks projection first: others read the stack's name from it).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import orjson

from domain.events import DomainEvent
from infrastructure.sql import Cursor
from projections import schema

if TYPE_CHECKING:
    from eventsourcing.application import Application


def dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def upsert(table: str, columns: str, key: str) -> str:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` every other column: a row written whole,
    whether or not one with its key exists (SQLite and PostgreSQL alike).

    `columns` and `key` are comma-separated column names; the values are `?` parameters,
    one per column, in order.
    """
    names = [name.strip() for name in columns.split(",")]
    keys = {name.strip() for name in key.split(",")}
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in keys)
    return (f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            f" ON CONFLICT ({key}) DO UPDATE SET {updates}")


class Projector(ABC):
    """Handles events for one projection; re-processing an event leaves the same rows."""

    spec: ClassVar[schema.ProjectionSpec]

    def __init__(self) -> None:
        self._handlers: dict[type[Any], Callable[..., None] | None] = {}

    @abstractmethod
    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        """Apply one event, at this log position, to the projection's rows."""

    def handles(self, event_type: type[DomainEvent]) -> bool:
        """Whether events of this type change the projection (others are not offered to it)."""
        return True

    def flush(self, cursor: Cursor) -> None:  # noqa: B027 -- optional
        """Write the rows `project` kept back to write together; the runner calls it at the
        end of every batch, in the transaction that records the projection's position."""

    def discard(self) -> None:  # noqa: B027 -- optional
        """Forget the rows kept back: the batch failed and its transaction is rolled back."""

    def handler(self, event_type: type[DomainEvent]) -> Callable[..., None] | None:
        """The `handle` method's implementation for this event type, bound to this projector
        (None: the default one, which leaves the rows as they are).

        `handle` is a `singledispatchmethod`; looking it up on every event made a new bound
        function each time, so each event type's implementation is looked up once.
        """
        handlers = self._handlers
        try:
            return handlers[event_type]
        except KeyError:
            pass
        method = inspect.getattr_static(type(self), "handle")
        dispatch = method.dispatcher.dispatch
        function = dispatch(event_type)
        found = None if function is dispatch(object) else function.__get__(self)
        handlers[event_type] = found
        return found


class DispatchingProjector(Projector):
    """A projector whose `handle(event, cursor, position)` is a `singledispatchmethod`."""

    def handles(self, event_type: type[DomainEvent]) -> bool:
        return self.handler(event_type) is not None

    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        handler = self.handler(type(event))
        if handler is not None:
            handler(event, cursor, position)


def all_projectors(store: Application[UUID]) -> list[Projector]:
    """Every projection's projector, in the order they see each event."""
    from projections.projectors.audit import AuditProjector
    from projections.projectors.dependencies import DependencyProjector
    from projections.projectors.executions import ExecutionProjector
    from projections.projectors.hooks import HookProjector
    from projections.projectors.locks import LockProjector
    from projections.projectors.resources import ResourceProjector
    from projections.projectors.stacks import StackProjector
    from projections.projectors.tokens import TokenProjector
    from projections.projectors.validations import ValidationProjector
    from projections.projectors.versions import VersionProjector

    return [StackProjector(), AuditProjector(), LockProjector(), VersionProjector(store),
            DependencyProjector(), ValidationProjector(), ResourceProjector(),
            ExecutionProjector(), TokenProjector(), HookProjector()]
