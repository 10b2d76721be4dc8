"""The `stack_validations` read model: each stack's last validation."""

from __future__ import annotations

from domain.events import DomainEvent
from domain.stack import Stack
from domain.timestamps import to_text
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import Projector, dump, upsert

_WRITE_VALIDATION = upsert("stack_validations", "stack_id, result, checks, validated_at,"
                           " validated_by, correlation_id", "stack_id")


class ValidationProjector(Projector):
    """Maintains `stack_validations`: each stack's last validation, its checks and outcome."""

    spec = schema.VALIDATIONS

    def handles(self, event_type: type[DomainEvent]) -> bool:
        return issubclass(event_type, Stack.ValidationPassed | Stack.ValidationFailed)

    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        if isinstance(event, Stack.ValidationPassed | Stack.ValidationFailed):
            cursor.execute(
                _WRITE_VALIDATION,
                (str(event.originator_id),
                 "passed" if isinstance(event, Stack.ValidationPassed) else "failed",
                 dump(event.payload()["checks"]), to_text(event.timestamp), event.actor,
                 event.correlation_id),
            )
