"""Waiting for a stack's lock, and holding it for as long as a long operation runs.

A lock is a lease: it protects the stack until it expires. An operation that may outlast the
lease (a drift fix, a workflow run) holds it through a `Lease`, which renews it in the
background and releases it when the operation ends, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from domain.errors import DomainError, LockConflict
from domain.invocation import Invocation
from domain.locks import LockInfo, LockWaitTimedOut, StackLocked

if TYPE_CHECKING:
    from commands.service import StackService

T = TypeVar("T")

ANNOUNCE_WAIT_AFTER = 0.4
"""Seconds of waiting for a lock before the caller is told who holds it."""


def wait_for_lock(
    attempt: Callable[[], T],
    *,
    stack: str,
    wait: timedelta | None,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    on_wait: Callable[[LockInfo], None] | None = None,
) -> T:
    """Run `attempt` until the stack is not locked by someone else, polling with backoff.

    Without `wait`, a locked stack is refused at once; with it, the attempt is retried until
    it succeeds or the wait is over. `on_wait` hears once, after a short while, who holds it.
    """
    started = monotonic()
    delay = 0.05
    announced = False
    while True:
        try:
            return attempt()
        except StackLocked as refused:
            if wait is None:
                raise
            waited = monotonic() - started
            remaining = wait.total_seconds() - waited
            if remaining <= 0:
                raise LockWaitTimedOut(stack, refused.lock, timedelta(seconds=waited)) from None
            if not announced and waited >= ANNOUNCE_WAIT_AFTER and on_wait is not None:
                on_wait(refused.lock)
                announced = True
            sleep(min(delay, remaining))
            delay = min(delay * 1.5, 1.0)


class Heartbeat:
    """Calls `beat` every `every` seconds on a background thread, until stopped.

    A beat that raises a domain error (the lock is gone, the stack destroyed) ends the
    heartbeat: `lost` holds the error, and `on_lost` hears it once.
    """

    def __init__(self, beat: Callable[[], object], every: float, *, name: str,
                 on_lost: Callable[[DomainError], None] | None = None) -> None:
        self.beat = beat
        self.every = every
        self.on_lost = on_lost
        self.lost: DomainError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except DomainError as gone:
                self.lost = gone
                if self.on_lost is not None:
                    self.on_lost(gone)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


class Lease:
    """A stack's lock, held by this process for one operation and renewed before it runs out.

    `invocation` presents the lock's id, so changes made through it pass the lock. Renewal
    happens every third of the lease's length on a background thread while beating; if a
    renewal finds the lock gone (force-released, or taken over after it expired), `lost`
    says how, and the beating stops: the operation should not go on as if it held the stack.
    """

    def __init__(self, service: StackService, stack: str, invocation: Invocation,
                 lock: LockInfo, ttl: timedelta,
                 on_lost: Callable[[DomainError], None] | None = None) -> None:
        self.service = service
        self.stack = stack
        self.lock = lock
        self.ttl = ttl
        self.invocation = invocation.model_copy(update={"lock_id": lock.lock_id})
        self.on_lost = on_lost
        self._heartbeat: Heartbeat | None = None
        self._guard = threading.Lock()

    @property
    def lock_id(self) -> str:
        return self.lock.lock_id

    @property
    def lost(self) -> DomainError | None:
        return self._heartbeat.lost if self._heartbeat is not None else None

    def renew(self) -> LockInfo:
        """Extend the lease to its full length from now."""
        from commands.models import RenewLock

        with self._guard:
            outcome = self.service.renew_lock(RenewLock(stack=self.stack, ttl=self.ttl),
                                              self.invocation)
            self.lock = outcome.detail["lock"]
            return self.lock

    def start_beating(self, interval: float | None = None) -> None:
        """Renew in the background every `interval` seconds (a third of the lease's length)."""
        every = interval if interval is not None else self.ttl.total_seconds() / 3
        self._heartbeat = Heartbeat(self.renew, every, name=f"lease-{self.stack}",
                                    on_lost=self.on_lost).start()

    def stop_beating(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def release(self) -> None:
        """Stop renewing and give the lock back, unless it is no longer ours."""
        from commands.models import ReleaseLock

        self.stop_beating()
        current = self.service.load(self.stack).lock
        if current is None or current.lock_id != self.lock_id:
            return
        try:
            self.service.release_lock(ReleaseLock(stack=self.stack), self.invocation)
        except LockConflict:  # it ran out meanwhile: there is nothing of ours to give back
            return
