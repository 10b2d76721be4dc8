"""How counts and lists of names read in one-line messages, and how text given by users is
shown without control or bidi characters acting on the screen."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Characters that would move the cursor, reorder the line (bidi overrides such as U+202E),
# hide text or end the line if printed as they are, and code points with no character yet.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def plural(count: int, noun: str) -> str:
    """`1 stack`, `3 stacks`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def agreeing(count: int, one: str, many: str) -> str:
    """The words that agree with `count` things: `agreeing(1, "its type", "their types")`."""
    return one if count == 1 else many


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


def printable(text: str) -> str:
    """The text as it can be shown on one line of a terminal: every control, format (bidi)
    and separator character escaped as `\\n`, `\\x00`, `\\u202e`; everything else as typed."""
    if text.isprintable():
        return text
    return "".join(_escaped(character) for character in text)


def _escaped(character: str) -> str:
    if unicodedata.category(character) not in ESCAPED_CATEGORIES:
        return character
    if character in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[character]
    code = ord(character)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
