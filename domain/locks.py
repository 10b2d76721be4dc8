"""Lock values: who holds a stack's lock, until when, and what they are doing."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from domain.durations import format_duration
from domain.errors import InvalidInput, LockConflict
from domain.invocation import Invocation
from domain.timestamps import has_passed

MAX_LOCK_TEXT = 1024
MAX_METADATA_ENTRIES = 64


class LockInfo(BaseModel):
    """A lease on a stack. It protects until `expires_at`; `generation` is a fencing token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lock_id: str
    locked_by: str
    acquired_by_actor: str
    locked_at: datetime
    expires_at: datetime
    operation: str = ""
    reason: str = ""
    metadata: dict[str, str] = {}
    generation: int

    def is_expired(self, at: datetime) -> bool:
        return has_passed(self.expires_at, at)

    def is_held_by(self, invocation: Invocation, claimed: str | None = None) -> bool:
        """The caller holds the lock if it presents the lock id, or is who locked it."""
        if invocation.lock_id is not None:
            return invocation.lock_id == self.lock_id
        identities = {invocation.actor} | ({claimed} if claimed else set())
        return bool(identities & {self.locked_by, self.acquired_by_actor})

    def describe(self) -> str:
        """How the holder reads in a one-line message."""
        doing = f" ({self.operation})" if self.operation else ""
        return f"{self.locked_by}{doing}"


MAX_LEASE = timedelta(days=365)


def validate_lock_text(value: str, field: str, what: str) -> str:
    """Free text recorded with a lock (holder, operation, reason): one line, bounded.

    `field` names the input for front doors (which know it as a flag or a JSON field).
    """
    if len(value) > MAX_LOCK_TEXT:
        raise InvalidInput(f"the {what} is longer than {MAX_LOCK_TEXT} characters", field=field)
    if any(ord(c) < 32 for c in value):
        raise InvalidInput(f"the {what} must not contain control characters", field=field)
    return value


def validate_ttl(ttl: timedelta) -> timedelta:
    """A lease lasts more than nothing and at most a year."""
    if ttl <= timedelta():
        raise InvalidInput(f"a lease must last longer than 0s (got {format_duration(ttl)})",
                           field="ttl")
    if ttl > MAX_LEASE:
        raise InvalidInput(f"a lease can last at most {format_duration(MAX_LEASE)}", field="ttl")
    return ttl


def validate_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidInput(f"a lock carries at most {MAX_METADATA_ENTRIES} metadata entries",
                           field="metadata")
    for key, value in metadata.items():
        validate_lock_text(key, "metadata", "metadata key")
        validate_lock_text(value, "metadata", f"metadata value of '{key}'")
    return metadata


class StackLocked(LockConflict):
    """A change was refused because someone else holds the stack's lock."""

    def __init__(self, stack: str, lock: LockInfo, *, yours: bool = False) -> None:
        if yours:
            message = (f"stack '{stack}' is locked by you ({lock.locked_by}); a locked stack "
                       "is destroyed only when forced")
        else:
            message = f"stack '{stack}' is locked by {lock.describe()}"
        super().__init__(message, stack=stack, yours=yours)
        self.lock = lock


class NotLockHolder(LockConflict):
    def __init__(self, stack: str, lock: LockInfo, detail: str = "") -> None:
        super().__init__(
            f"not the holder of the lock on '{stack}'{detail}; it is held by {lock.describe()}",
            stack=stack,
        )
        self.lock = lock


class NotLocked(LockConflict):
    def __init__(self, stack: str, expired: LockInfo | None = None) -> None:
        if expired is not None:
            message = (f"stack '{stack}' is not locked: the lock by {expired.locked_by} "
                       f"expired at {expired.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        else:
            message = f"stack '{stack}' is not locked"
        super().__init__(message, stack=stack)
        self.lock = expired


class LockWaitTimedOut(LockConflict):
    def __init__(self, stack: str, lock: LockInfo, waited: timedelta) -> None:
        super().__init__(
            f"gave up after {format_duration(waited)}: stack '{stack}' is still locked by "
            f"{lock.describe()}",
            stack=stack,
        )
        self.lock = lock
