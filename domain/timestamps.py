"""Timestamps: one storage form, and parsing what users type (ISO 8601)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from domain.errors import InvalidInput


@lru_cache(maxsize=256)
def to_text(moment: datetime) -> str:
    """The storage and JSON form: UTC, microseconds, `Z` (sorts as text in time order; the
    year always has four digits).

    Remembered for the last few moments: projecting one event writes its time several times.
    """
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_text(text: str) -> datetime:
    """Read the storage form back."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_timestamp(text: str, *, what: str = "timestamp") -> datetime:
    """Parse an ISO 8601 timestamp a user typed; a time without a zone is taken as UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("z", "Z")):
        cleaned = cleaned[:-1] + "+00:00"
    shown = text if len(text) <= 60 else text[:57] + "..."
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInput(
            f"invalid {what} '{shown}': use ISO 8601, e.g. 2025-10-10T14:30:00Z or 2025-10-10"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"invalid {what} '{shown}': in UTC it falls outside the years 1 to 9999"
        ) from None


def has_passed(moment: datetime, at: datetime) -> bool:
    """Whether `moment` has come by `at` (a lease expires the instant its end is reached)."""
    return at >= moment
