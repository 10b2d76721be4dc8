"""Durations as users write them: 90s, 30m, 1h, 1h30m, 30d, 250ms."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.errors import InvalidInput

_PART = re.compile(r"(\d+)(ms|d|h|m|s)")
_UNITS = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
HINT = "use e.g. 90s, 30m, 1h, 1h30m, 30d"


def parse_duration(text: str, *, what: str = "duration", allow_zero: bool = False) -> timedelta:
    """Parse a duration; raise InvalidInput with a one-line reason when it is not one."""
    cleaned = text.strip().lower()
    position = 0
    total = timedelta()
    seen: set[str] = set()
    for match in _PART.finditer(cleaned):
        if match.start() != position or match.group(2) in seen:
            break
        seen.add(match.group(2))
        total += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not cleaned or position != len(cleaned):
        raise InvalidInput(f"invalid {what} '{text}': {HINT}")
    if total <= timedelta() and not allow_zero:
        raise InvalidInput(f"invalid {what} '{text}': must be greater than zero")
    return total


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
