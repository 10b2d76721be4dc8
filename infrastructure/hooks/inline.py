"""Inline delivery: right after a command commits, the same process delivers its events to
the hooks that want them.

It shares the processor's tracking: it claims each hook it delivers to (and skips a hook
another process is delivering to), delivers the hook's events in order up to the last one
this command wrote, records each outcome with the hook's position, and gives the hook back.
It never waits: one attempt per delivery, and a hook whose next delivery waits for a retry,
or that is far behind, is left to `sloth-runner events process` (or a later command).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from infrastructure.hooks.definitions import HookDefinition, StackNames, hook_definitions

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from infrastructure.eventlog import EventLog
    from infrastructure.hooks import tracking
    from infrastructure.hooks.delivery import Tracker
    from infrastructure.runtime import Runtime

BACKLOG = 1000
"""A hook more events behind than this is left to the processor: a command stays quick."""
LEASE = timedelta(minutes=5)

Warn = Callable[[str], None]


def deliver_recorded(runtime: Runtime, recorded: Sequence[Notification], warn: Warn) -> int:
    """Deliver what this process just recorded to the hooks that want it; returns how many
    deliveries were made."""
    from infrastructure.clock import now

    connection = runtime.connection()

    def load_names() -> dict[str, str]:
        from projections.queries.stacks import stack_names

        return stack_names(connection)

    names = StackNames(load_names)
    hooks = [hook for hook in hook_definitions(connection, runtime.settings.hooks)
             if hook.active and _wants_any(hook, recorded, names)]
    if not hooks:
        return 0  # what no hook wants costs no more than this
    from infrastructure.hooks import tracking
    from infrastructure.hooks.delivery import Tracker

    first, last = min(n.id for n in recorded), max(n.id for n in recorded)
    tracker = Tracker(connection, tracking.new_owner(), now, LEASE)
    log = runtime.event_log()
    delivered = 0
    for hook in hooks:
        # A config hook seen for the first time starts just before this command's events.
        claim = tracker.claim(hook, lambda: first - 1)
        if claim is None:
            continue  # another process delivers to it
        try:
            delivered += _deliver(hook, claim.position, last, log, names, tracker, warn)
        finally:
            tracker.release([hook.name])
    return delivered


def _wants_any(hook: HookDefinition, recorded: Sequence[Notification],
               names: StackNames) -> bool:
    wants = hook.matcher()
    return any(wants(n.topic, names.of(n) if hook.spec.stacks else "") for n in recorded)


def _deliver(hook: HookDefinition, position: int, last: int, log: EventLog, names: StackNames,
             tracker: Tracker, warn: Warn) -> int:
    from infrastructure.hooks import tracking
    from infrastructure.hooks.delivery import (
        LogEvent,
        attempt_outcome,
        default_backoff,
        deliver_once,
    )

    if last - position > BACKLOG:
        warn(f"hook '{hook.name}' is {last - position} events behind; "
             "'sloth-runner events process' delivers them")
        return 0
    retry = tracker.pending_retry(hook.name, position)
    if retry is not None and retry.next_attempt_at and (
            retry.next_attempt_at > tracking.text_of(tracker.clock())):
        return 0  # it waits before its next attempt; not this command's to hurry
    from domain.hooks import ActionKind
    from infrastructure.hooks.actions import build_action

    wants = hook.matcher()
    action = build_action(hook.spec)
    in_process = hook.spec.action.kind is ActionKind.LUA
    kept: list[tracking.Outcome] = []
    count = 0
    try:
        for notification in log.read(position, last - position, until=last):
            stack = names.of(notification)
            if not wants(notification.topic, stack):
                continue
            event = LogEvent.of(notification, names)
            attempts, first = 1, None
            if retry is not None and retry.position == event.position:
                attempts, first = retry.attempts + 1, retry.first_attempt_at
            result = deliver_once(action, hook, event, attempts=attempts,
                                  should_stop=lambda: None)
            outcome, wait = attempt_outcome(hook, event, result, attempts=attempts,
                                            first_attempt_at=first, now=tracker.clock(),
                                            backoff=default_backoff)
            count += 1
            kept.append(outcome)
            if not in_process:
                tracker.record(kept)
                kept = []
            if outcome.status != tracking.DELIVERED:
                _warn_failed(outcome, warn)
            if wait is not None:
                tracker.record(kept)
                return count
        tracker.record(kept, advance_to={hook.name: last})
    finally:
        action.close()
    return count


def _warn_failed(outcome: tracking.Outcome, warn: Warn) -> None:
    from infrastructure.hooks import tracking

    identity = tracking.delivery_id(outcome.hook, outcome.position)
    then = ("'sloth-runner events process' will try again" if not outcome.final
            else "recorded as failed ('sloth-runner hooks retry' sends it again)")
    warn(f"hook '{outcome.hook}': delivery {identity} ({outcome.event_type}) failed: "
         f"{outcome.error}; {then}")
