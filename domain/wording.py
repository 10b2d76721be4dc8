"""How counts and lists of names read in one-line messages and summaries."""

from __future__ import annotations

from collections.abc import Sequence


def plural(count: int, noun: str) -> str:
    """`1 stack`, `3 stacks`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def entries(count: int, what: str = "history") -> str:
    """`1 history entry`, `3 history entries`."""
    return f"{count} {what} {'entry' if count == 1 else 'entries'}"


def listed(names: Sequence[str], limit: int = 5) -> str:
    """`a, b, c` -- or, past `limit`, `a, b, c, d, e and 7 more`."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def shortened(text: str, limit: int) -> str:
    """The text, cut to `limit` characters with `...` when it is longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
