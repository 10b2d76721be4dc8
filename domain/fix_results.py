"""What a drift fix can do to one resource (kept apart so that views read it cheaply)."""

from __future__ import annotations

from enum import StrEnum


class FixResult(StrEnum):
    REPAIRED = "repaired"
    ACCEPTED = "accepted"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not attempted, because a resource it depends on could not be fixed."""


SUCCEEDED = frozenset({FixResult.REPAIRED, FixResult.ACCEPTED})


def fix_succeeded(result: str) -> bool:
    """Whether a fix with this result left its resource as desired."""
    return result in SUCCEEDED
