"""The event processor (`sloth-runner events process`): every event of the log, in order, to
each hook that wants it, at least once, with a pool of workers and a bounded queue.

How it runs:

- The main thread reads the log from where the hooks stand (each hook has its own position
  and claims it with a lease, so two processors, or a processor and a command delivering
  its own events inline, never deliver to one hook at once) and hands each event to the
  *lane* of every hook that wants it. At most `queue_size` events are in the lanes at a time:
  when they are all taken, reading waits (back-pressure), so memory stays flat however long
  the log is.
- A worker takes a lane that has events and delivers its next ones, in log order: one at a
  time for commands and webhooks, runs of up to `LUA_RUN` for in-process Lua functions. The
  outcomes and the hook's new position are recorded in one transaction, so a crash loses
  both or neither: a restart delivers again only what was in flight.
- A failed attempt is retried after a backoff that doubles (injectable); while it waits, the
  hook's later events wait too (order), other hooks go on. After its retries, a delivery is
  recorded as failed (the dead letter) and the hook moves on.
- Stopping (SIGTERM): no new delivery starts; those in flight finish and are recorded.
"""

from __future__ import annotations

import itertools
import queue
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from domain.hooks import ActionKind
from infrastructure.errors import DatabaseUnavailable, DatabaseUnusable
from infrastructure.hooks import tracking
from infrastructure.hooks.actions import Action, build_action
from infrastructure.hooks.definitions import HookDefinition, StackNames, hook_definitions
from infrastructure.hooks.delivery import (
    Backoff,
    LogEvent,
    Tracker,
    attempt_outcome,
    default_backoff,
    deliver_once,
)

if TYPE_CHECKING:
    from eventsourcing.persistence import Notification

    from infrastructure.eventlog import EventLog
    from infrastructure.runtime import Runtime

LUA_RUN = 256
"""In-process deliveries recorded together (a crash delivers at most these again)."""
READ_BATCH = 500
LEASE = timedelta(seconds=60)
"""How long a hook stays claimed without being renewed (a processor renews it well before)."""
IDLE_WAIT = 0.25
"""Longest sleep of the main loop, so that a stop is seen promptly."""


class StopSignal(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class Summary:
    """What a run of the processor did."""

    hooks: int = 0
    delivered: int = 0
    failed: int = 0
    """Deliveries dead-lettered after their last retry."""
    retried: int = 0
    """Attempts that failed and were scheduled to be tried again."""
    skipped: list[str] = field(default_factory=list)
    """Hooks another process was delivering to."""
    peak_in_hand: int = 0
    """The most events held at once (never more than the queue size)."""
    workers: int = 0
    """Worker threads started (as many as there was work for, up to the pool's size)."""

    def to_json(self) -> dict[str, object]:
        return {"hooks": self.hooks, "delivered": self.delivered, "failed": self.failed,
                "retried": self.retried, "skipped": self.skipped,
                "peak_in_hand": self.peak_in_hand, "workers": self.workers}


@dataclass(slots=True)
class _Pending:
    event: LogEvent
    remaining: int
    """Lanes that still have to finish with it."""


class _Lane:
    """One hook's events on their way, in log order, and where the hook stands."""

    def __init__(self, hook: HookDefinition, position: int,
                 retry: tracking.Outcome | None) -> None:
        self.hook = hook
        self.wants = hook.matcher()
        self.position = position
        self.dispatched = position
        self.pending: deque[_Pending] = deque()
        self.busy = False
        self.ready_at: float | None = None
        self.retry = retry
        self.retired = False
        self.action: Action | None = None
        self.run_length = LUA_RUN if hook.spec.action.kind is ActionKind.LUA else 1

    @property
    def idle(self) -> bool:
        return not self.busy and not self.pending and self.ready_at is None


def _print(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class Processor:
    """Delivers the log to the hooks with `workers` threads and at most `queue_size` events
    in hand."""

    def __init__(self, runtime: Runtime, *, workers: int, queue_size: int,
                 poll_interval: float, backoff: Backoff = default_backoff,
                 clock: Callable[[], datetime] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] = _print, lease: timedelta = LEASE) -> None:
        from infrastructure.clock import now
        self.runtime = runtime
        self.workers = max(1, workers)
        self.queue_size = max(1, queue_size)
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.clock = clock or now
        self.monotonic = monotonic
        self.log = log
        self.lease = lease
        self.tracker = Tracker(runtime.new_connection(), tracking.new_owner(), self.clock,
                               lease)
        self.summary = Summary()
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._ready: queue.SimpleQueue[_Lane | None] = queue.SimpleQueue()
        self._outstanding = 0
        self._threads: list[threading.Thread] = []
        self._idle_workers = 0
        """Workers waiting for a lane, less lanes handed out that none has taken yet."""
        self._short_of_room = False
        self._stopping = False
        self._stop: StopSignal = threading.Event()
        self._hard_stop: StopSignal = threading.Event()
        self._names: StackNames | None = None
        self._warned: set[str] = set()

    # ---- running ---------------------------------------------------------------------------

    def run(self, *, follow: bool, stop: StopSignal | None = None,
            hard_stop: StopSignal | None = None) -> Summary:
        """Deliver until stopped (`follow`), or until everything deliverable now is (drain)."""
        self._stop = stop or threading.Event()
        self._hard_stop = hard_stop or threading.Event()
        log = self.runtime.event_log()
        threads = self._threads
        try:
            next_refresh = next_poll = 0.0
            renew_every = min(self.poll_interval, self.lease.total_seconds() / 3)
            while not self._stop.is_set():
                now = self.monotonic()
                if now >= next_refresh:
                    self._refresh(log.head)
                    next_refresh = now + renew_every
                read, exhausted = 0, False
                if now >= next_poll or not follow:
                    read, exhausted = self._read(log)
                    if exhausted:
                        next_poll = now + self.poll_interval
                self._wake_due()
                self._advance_idle()
                if not follow and exhausted and self._settled():
                    break
                if read == 0:
                    self._wait(min(next_poll - now if follow else IDLE_WAIT, IDLE_WAIT,
                                   self._next_due(now)))
        finally:
            self._shut_down(threads)
        return self.summary

    def _wait(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait(max(seconds, 0.001))

    def _should_stop(self) -> str | None:
        return "the processor was stopped" if self._hard_stop.is_set() else None

    # ---- the hooks in force ----------------------------------------------------------------

    def _refresh(self, head: Callable[[], int]) -> None:
        """Follow changes to the hooks (added, removed, disabled) and renew their leases."""
        self.runtime.catch_up()
        connection = self.runtime.connection()
        wanted = {hook.name: hook for hook in hook_definitions(
            connection, self.runtime.settings.hooks) if hook.active}
        if self._names is None:
            from projections.queries.stacks import stack_names

            self._names = StackNames(lambda: stack_names(self.runtime.reader()))
        with self._cond:
            for name, lane in self._lanes.items():
                hook = wanted.get(name)
                if hook is None or hook.incarnation != lane.hook.incarnation:
                    lane.retired = True
                elif hook.spec != lane.hook.spec and not lane.busy:
                    self._close_action(lane)
                    lane.hook, lane.wants = hook, hook.matcher()
            live = [name for name, lane in self._lanes.items() if not lane.retired]
        held = set(self.tracker.renew(live))
        with self._cond:
            for name in live:
                if name not in held:
                    self._lanes[name].retired = True
            dropped = self._drop_retired()
        self.tracker.release(dropped)
        for name, hook in wanted.items():
            if name not in self._lanes:
                self._adopt(hook, head)
        self.summary.hooks = len(self._lanes)

    def _adopt(self, hook: HookDefinition, head: Callable[[], int]) -> None:
        claim = self.tracker.claim(hook, head)
        if claim is None:
            if hook.name not in self._warned:
                self._warned.add(hook.name)
                self.summary.skipped.append(hook.name)
                self.log(f"hook '{hook.name}': another process is delivering to it; "
                         "leaving it to that process")
            return
        retry = self.tracker.pending_retry(hook.name, claim.position)
        lane = _Lane(hook, claim.position, retry)
        if retry is not None and retry.next_attempt_at:
            from domain.timestamps import from_text

            wait = (from_text(retry.next_attempt_at) - self.clock()).total_seconds()
            lane.ready_at = self.monotonic() + wait if wait > 0 else None
        with self._cond:
            self._lanes[hook.name] = lane

    def _drop_retired(self) -> list[str]:
        """Lanes whose hook is gone and which no worker holds: let their events go."""
        dropped = [name for name, lane in self._lanes.items() if lane.retired and not lane.busy]
        for name in dropped:
            lane = self._lanes.pop(name)
            for pending in lane.pending:
                self._let_go(pending)
            lane.pending.clear()
            self._close_action(lane)
        return dropped

    @staticmethod
    def _close_action(lane: _Lane) -> None:
        if lane.action is not None:
            lane.action.close()
            lane.action = None

    # ---- reading the log -------------------------------------------------------------------

    def _read(self, log: EventLog) -> tuple[int, bool]:
        """Hand the next events to the lanes that want them; (events read, log exhausted)."""
        with self._cond:
            room = self.queue_size - self._outstanding
            live = [lane for lane in self._lanes.values() if not lane.retired]
            if not live:
                return 0, True
            self._short_of_room = room < READ_BATCH
            if room <= 0:
                return 0, False
            after = min(lane.dispatched for lane in live)
        limit = min(room, READ_BATCH)
        notifications = log.read(after, limit)
        for notification in notifications:
            self._dispatch(notification, live)
        return len(notifications), len(notifications) < limit

    def _dispatch(self, notification: Notification, lanes: list[_Lane]) -> None:
        assert self._names is not None
        position, kind = notification.id, notification.topic
        stack: str | None = None
        wanting = []
        for lane in lanes:
            if position <= lane.dispatched:
                continue
            if lane.hook.spec.stacks and stack is None:
                stack = self._names.of(notification)
            if lane.wants(kind, stack or ""):
                wanting.append(lane)
        event = LogEvent.of(notification, self._names) if wanting else None
        with self._cond:
            for lane in lanes:
                lane.dispatched = max(lane.dispatched, position)
            if event is None:
                return
            pending = _Pending(event, len(wanting))
            self._outstanding += 1
            self.summary.peak_in_hand = max(self.summary.peak_in_hand, self._outstanding)
            for lane in wanting:
                lane.pending.append(pending)
                self._schedule(lane)

    def _schedule(self, lane: _Lane) -> None:
        """Give the lane to a worker if it has events ready (called holding the condition).

        Workers are started as they are needed, up to `workers`: a processor with three
        hooks runs three threads, however large the pool may grow.
        """
        if (not lane.busy and lane.pending and lane.ready_at is None and not lane.retired
                and not self._stopping):
            lane.busy = True
            self._ready.put(lane)
            self._idle_workers -= 1
            if self._idle_workers < 0 and len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"hook-worker-{len(self._threads)}")
                self._threads.append(thread)
                self._idle_workers += 1
                thread.start()

    def _let_go(self, pending: _Pending) -> None:
        pending.remaining -= 1
        if pending.remaining == 0:
            self._outstanding -= 1
            if self._short_of_room and self._outstanding <= self.queue_size // 2:
                self._short_of_room = False
                self._cond.notify_all()  # the reader can hand out more

    def _wake_due(self) -> None:
        now = self.monotonic()
        with self._cond:
            for lane in self._lanes.values():
                if lane.ready_at is not None and lane.ready_at <= now:
                    lane.ready_at = None
                    self._schedule(lane)

    def _next_due(self, now: float) -> float:
        with self._cond:
            due = [lane.ready_at - now for lane in self._lanes.values()
                   if lane.ready_at is not None]
        return min(due, default=IDLE_WAIT)

    def _settled(self) -> bool:
        """Nothing more can be delivered now: no lane busy, none with events ready."""
        now = self.monotonic()
        with self._cond:
            return all(not lane.busy and (not lane.pending or (
                lane.ready_at is not None and lane.ready_at > now))
                for lane in self._lanes.values())

    def _advance_idle(self) -> None:
        """Move idle hooks past the events they did not want, so a restart does not read
        those again."""
        with self._cond:
            targets = {name: lane.dispatched for name, lane in self._lanes.items()
                       if lane.idle and not lane.retired and lane.dispatched > lane.position}
        if not targets:
            return
        try:
            self.tracker.record([], advance_to=targets)
        except tracking.LeaseLost:
            return  # the next refresh finds which hook was taken over
        with self._cond:
            for name, position in targets.items():
                lane = self._lanes.get(name)
                if lane is not None:
                    lane.position = max(lane.position, position)

    # ---- delivering ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            lane = self._ready.get()
            if lane is None:
                return
            self._serve(lane)
            with self._cond:
                self._idle_workers += 1

    def _serve(self, lane: _Lane) -> None:
        """Deliver the lane's ready events, run after run; give the lane back when it has
        none ready, or when other lanes wait for a worker."""
        while self._serve_run(lane):
            pass

    def _serve_run(self, lane: _Lane) -> bool:
        """One run of deliveries and its record; True when the lane stays with this worker."""
        with self._cond:
            if self._stopping or lane.retired:
                lane.busy = False
                self._cond.notify_all()
                return False
            run = list(itertools.islice(lane.pending, lane.run_length))
            hook, retry = lane.hook, lane.retry
        if lane.action is None:
            lane.action = build_action(hook.spec, log=self._lua_log(hook.name))
        outcomes: list[tracking.Outcome] = []
        wait: float | None = None
        for pending in run:
            if self._hard_stop.is_set():
                break
            attempts, first = 1, None
            if retry is not None and retry.position == pending.event.position:
                attempts, first = retry.attempts + 1, retry.first_attempt_at
            retry = None
            result = deliver_once(lane.action, hook, pending.event, attempts=attempts,
                                  should_stop=self._should_stop)
            outcome, wait = attempt_outcome(hook, pending.event, result, attempts=attempts,
                                            first_attempt_at=first, now=self.clock(),
                                            backoff=self.backoff)
            outcomes.append(outcome)
            self._report(outcome, wait)
            if wait is not None:
                break
        lost, failed = False, False
        try:
            self.tracker.record(outcomes)
        except tracking.LeaseLost:
            lost = True
            self.log(f"hook '{hook.name}': another process took it over; stopping here")
        except (sqlite3.Error, DatabaseUnusable, DatabaseUnavailable) as exc:
            failed = True
            self.log(f"hook '{hook.name}': cannot record deliveries ({exc}); they will be "
                     "sent again")
        with self._cond:
            if lost:
                lane.retired = True
            elif failed:
                lane.ready_at = self.monotonic() + IDLE_WAIT * 4
            else:
                self._apply(lane, outcomes, wait)
            keep = (bool(lane.pending) and lane.ready_at is None and not lane.retired
                    and not self._stopping and self._ready.empty())
            if keep:
                return True
            lane.busy = False
            self._schedule(lane)
            # The main thread waits for room, for lanes to settle, or for a retry to come due.
            self._cond.notify_all()
            return False

    def _apply(self, lane: _Lane, outcomes: list[tracking.Outcome], wait: float | None) -> None:
        for outcome in outcomes:
            if not outcome.final:
                lane.retry = outcome
                lane.ready_at = self.monotonic() + (wait or 0.0)
                self.summary.retried += 1
                if not wait:
                    lane.ready_at = None
                continue
            pending = lane.pending.popleft()
            self._let_go(pending)
            lane.position = outcome.position
            lane.retry = None
            if outcome.status == tracking.DELIVERED:
                self.summary.delivered += 1
            else:
                self.summary.failed += 1

    def _report(self, outcome: tracking.Outcome, wait: float | None) -> None:
        if outcome.status == tracking.DELIVERED:
            return
        identity = tracking.delivery_id(outcome.hook, outcome.position)
        what = f"hook '{outcome.hook}': delivery {identity} ({outcome.event_type})"
        if outcome.status == tracking.RETRYING:
            self.log(f"{what} failed, attempt {outcome.attempts}: {outcome.error}; trying "
                     f"again in {_seconds(wait or 0.0)}")
        else:
            self.log(f"{what} failed after {outcome.attempts} attempts: {outcome.error}; "
                     "recorded as failed (sloth-runner hooks retry sends it again)")

    def _lua_log(self, hook: str) -> Callable[[str, str], None]:
        def log(level: str, message: str) -> None:
            if level != "debug":
                self.log(f"hook '{hook}' [{level}]: {message}")

        return log

    # ---- stopping --------------------------------------------------------------------------

    def _shut_down(self, threads: list[threading.Thread]) -> None:
        """Let deliveries in flight finish and be recorded, then give the hooks back."""
        with self._cond:
            self._stopping = True
            while any(lane.busy for lane in self._lanes.values()):
                self._cond.wait(IDLE_WAIT)
        self._advance_idle()
        self.summary.workers = len(threads)
        for _ in threads:
            self._ready.put(None)
        for thread in threads:
            thread.join()
        with self._cond:
            names = list(self._lanes)
            for lane in self._lanes.values():
                self._close_action(lane)
        try:
            self.tracker.release(names)
        finally:
            self.tracker.connection.close()


def _seconds(seconds: float) -> str:
    from domain.durations import format_duration

    return format_duration(timedelta(seconds=seconds))
