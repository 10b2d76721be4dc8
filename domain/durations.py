"""Durations as users write them: 90s, 30m, 1h, 1h30m, 30d, 250ms."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.errors import InvalidInput
from domain.wording import shortened

_PART = re.compile(r"([0-9]+)(ms|d|h|m|s)")
_MILLISECONDS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
HINT = "use e.g. 90s, 30m, 1h, 1h30m, 30d"
MAX_DURATION = timedelta(days=36_500)
"""No duration a user types is longer than 100 years (every date it leads to stays in range)."""
_MAX_MILLISECONDS = MAX_DURATION // timedelta(milliseconds=1)


def parse_duration(text: str, *, what: str = "duration", allow_zero: bool = False) -> timedelta:
    """Parse a duration; raise InvalidInput with a one-line reason when it is not one."""
    cleaned = text.strip().lower()
    position = 0
    milliseconds = 0
    seen: set[str] = set()
    for match in _PART.finditer(cleaned):
        if match.start() != position or match.group(2) in seen:
            break
        seen.add(match.group(2))
        digits = match.group(1).lstrip("0") or "0"
        # More digits than any duration up to MAX_DURATION has: too long, whatever the unit.
        milliseconds += (int(digits) if len(digits) <= 15 else _MAX_MILLISECONDS + 1) * (
            _MILLISECONDS[match.group(2)])
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise InvalidInput(f"invalid {what} '{_clipped(text)}': {HINT}")
    if milliseconds > _MAX_MILLISECONDS:
        raise InvalidInput(f"invalid {what} '{_clipped(text)}': must be at most "
                           f"{MAX_DURATION.days}d (100 years)")
    if milliseconds == 0 and not allow_zero:
        raise InvalidInput(f"invalid {what} '{text}': must be greater than zero")
    return timedelta(milliseconds=milliseconds)


def _clipped(text: str) -> str:
    return shortened(text, 60)


def coerce_duration(value: object, *, what: str = "duration",
                    seconds_allowed: bool = False) -> timedelta:
    """A duration as a file gives it (YAML, a resource spec): text such as `90s`, or, where
    `seconds_allowed`, a number of seconds. Raises ValueError, as field validators do."""
    if isinstance(value, timedelta):
        return value
    if seconds_allowed and isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 < value <= MAX_DURATION.total_seconds():
            raise ValueError(f"invalid {what} {value}: a number of seconds must be greater "
                             f"than zero and at most {MAX_DURATION.days}d")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"invalid {what}: expected a duration such as 90s, 30m, 1h or 30d, "
                         f"got {type(value).__name__}")
    try:
        return parse_duration(value, what=what)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def format_duration(value: timedelta) -> str:
    """Render a duration compactly: 71ms, 5m 23s, 2h 0m, 3d 4h."""
    total_ms = int(value.total_seconds() * 1000)
    if total_ms < 0:
        return "-" + format_duration(-value)
    if total_ms < 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
