"""What the processor and inline delivery share: the events as hooks see them, one attempt
and its outcome, and the tracking tables behind a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from domain.errors import InvalidInput
from domain.hooks import retry_delay
from infrastructure.hooks import tracking
from infrastructure.hooks.actions import MAX_ERROR, Action, AttemptResult, Delivery, StopCheck
from infrastructure.hooks.definitions import HookDefinition, StackNames
from infrastructure.sql import Connection, Cursor

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

Backoff = Callable[[int], float]
"""Seconds to wait after this many failed attempts."""


def default_backoff(failed_attempts: int) -> float:
    return retry_delay(failed_attempts).total_seconds()


# ---- events as hooks see them -----------------------------------------------------------------

@dataclass(slots=True)
class LogEvent:
    """One event of the log, as hooks receive it."""

    position: int
    type: str
    stack: str
    document: dict[str, Any]
    """The event as `events export` writes it."""

    @classmethod
    def of(cls, notification: Notification, names: StackNames) -> LogEvent:
        from projections.export import event_document

        stack = names.of(notification)
        document = event_document(notification, {str(notification.originator_id): stack})
        return cls(notification.id, notification.topic, stack, document)

    def delivery(self, hook: str, attempt: int, identity: str | None = None) -> Delivery:
        identity = identity or tracking.delivery_id(hook, self.position)
        document = {**self.document, "hook": hook, "delivery_id": identity}
        return Delivery(hook=hook, delivery_id=identity, position=self.position,
                        event_type=self.type, stack=self.stack,
                        body=orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE),
                        document=document, attempt=attempt)


# ---- one attempt -------------------------------------------------------------------------------

def attempt_outcome(hook: HookDefinition, event: LogEvent, result: AttemptResult, *,
                    attempts: int, first_attempt_at: str | None, now: datetime,
                    backoff: Backoff) -> tuple[tracking.Outcome, float | None]:
    """What one attempt leaves: the delivery's outcome, and the seconds to wait before the
    next attempt (None when there is none: delivered, or dead-lettered after the retries)."""
    at = tracking.text_of(now)
    wait: float | None = None
    if result.ok:
        status = tracking.DELIVERED
    elif attempts > hook.spec.retries:
        status = tracking.FAILED
    else:
        status = tracking.RETRYING
        wait = max(backoff(attempts), 0.0)
    outcome = tracking.Outcome(
        hook=hook.name, position=event.position, event_type=event.type, stack=event.stack,
        status=status, attempts=attempts, first_attempt_at=first_attempt_at or at,
        last_attempt_at=at, duration_ms=result.duration_ms, exit_code=result.exit_code,
        http_status=result.http_status, error=result.error,
        next_attempt_at=tracking.text_of(now + timedelta(seconds=wait))
        if wait is not None else None)
    return outcome, wait


def deliver_once(action: Action, hook: HookDefinition, event: LogEvent, *, attempts: int,
                 should_stop: StopCheck) -> AttemptResult:
    """One attempt, whatever goes wrong inside the action (reported, never raised)."""
    try:
        return action.deliver(event.delivery(hook.name, attempts), should_stop)
    except InvalidInput as exc:
        return AttemptResult(ok=False, duration_ms=0, error=str(exc))
    except Exception as exc:  # an action's own defect must not stop the other hooks
        return AttemptResult(ok=False, duration_ms=0,
                             error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR])


# ---- the tracking tables, shared between threads ----------------------------------------------

class Tracker:
    """The hook tracking tables on one connection, one transaction at a time."""

    def __init__(self, connection: Connection, owner: str,
                 clock: Callable[[], datetime], lease: timedelta) -> None:
        self.connection = connection
        self.owner = owner
        self.clock = clock
        self.lease = lease
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._lock, self.connection.write_transaction() as cursor:
            yield cursor

    def _times(self) -> tuple[str, str]:
        now = self.clock()
        return tracking.text_of(now), tracking.text_of(now + self.lease)

    def claim(self, hook: HookDefinition, head: Callable[[], int]) -> tracking.Claim | None:
        now, until = self._times()
        with self._transaction() as cursor:
            start = hook.start if hook.start is not None else head()
            return tracking.claim(cursor, hook.name, hook.incarnation, start, self.owner, now,
                                  until)

    def renew(self, hooks: Sequence[str]) -> list[str]:
        _, until = self._times()
        with self._transaction() as cursor:
            return tracking.renew(cursor, self.owner, hooks, until)

    def release(self, hooks: Sequence[str]) -> None:
        if hooks:
            with self._transaction() as cursor:
                tracking.release(cursor, self.owner, hooks)

    def record(self, outcomes: Sequence[tracking.Outcome],
               advance_to: dict[str, int] | None = None) -> None:
        if not outcomes and not advance_to:
            return
        now = tracking.text_of(self.clock())
        with self._transaction() as cursor:
            tracking.record(cursor, self.owner, outcomes, now, advance_to)

    def pending_retry(self, hook: str, after: int) -> tracking.Outcome | None:
        with self._lock:
            return tracking.pending_retry(self.connection, hook, after)
