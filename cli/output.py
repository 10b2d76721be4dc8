"""Rendering: JSON documents, the original tool's plain tables, times, colours, values."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer

from domain import wording

_STATUS_COLOURS = {
    "completed": "green",
    "created": "cyan",
    "running": "yellow",
    "failed": "red",
    "destroyed": "bright_black",
    "LOCKED": "red",
    "UNLOCKED": "green",
    "EXPIRED": "yellow",
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
    "in_sync": "green",
    "drifted": "red",
    "unknown": "yellow",
    "pending": "cyan",
}


printable = wording.printable
"""Escapes control and bidi characters (one function for the terminal and the web pages)."""
KEYS_LISTED = 3


def key_list(keys: Sequence[str], *, listed: int = KEYS_LISTED) -> str:
    """`a, b, c`; past `listed` keys, a count and the first few: `250 keys (a, b, c, … and
    247 more)`, so that a success line stays one short line."""
    names = [printable(key) for key in keys]
    if len(names) <= listed:
        return ", ".join(names)
    more = f"{symbol('…', '...')} and {len(names) - listed} more"
    return f"{len(names)} keys ({', '.join(names[:listed])}, {more})"


def stdout_closed() -> None:
    """Whoever read our output has gone (`| head -1`): send the rest to /dev/null, so that
    neither a later write nor the flush at exit fails again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def json_text(document: Any) -> str:
    """A JSON document as `--json` prints it (indented), every secret in it `[secret]`."""
    import orjson

    return _dumps(document, orjson.OPT_INDENT_2).decode()


_MARKED = b'"$secret"'


def _dumps(document: Any, option: int = 0) -> bytes:
    """JSON of a document with every secret envelope in it shown as `[secret]` (everything
    printed as JSON passes here; a revealed secret is no longer an envelope)."""
    import orjson

    data = orjson.dumps(document, option=option)
    if _MARKED not in data:
        return data
    from domain.secrets import mask_deep

    return orjson.dumps(mask_deep(document), option=option)


def emit_json(document: Any) -> None:
    sys.stdout.write(json_text(document) + "\n")


def emit_json_lines(documents: Iterable[Any]) -> None:

    write = sys.stdout.write
    for document in documents:
        write(_dumps(document).decode() + "\n")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def notice(kind: str, message: str, *, json: bool, prose: str | None = None) -> None:
    """A line for the person running the command (not the result) on stderr: `kind: message`
    (or `prose`), and under --json one JSON object (`{"warning": {"message": ...}}`), so that
    stderr stays machine-readable."""
    if json:
        import orjson

        sys.stderr.write(orjson.dumps({kind: {"message": message}}).decode() + "\n")
    else:
        sys.stderr.write((prose or f"{kind}: {message}") + "\n")
    sys.stderr.flush()


def tick() -> str:
    """A check mark where the terminal can show one."""
    return symbol("✓", "OK")


def cross() -> str:
    """A cross (something failed) where the terminal can show one."""
    return symbol("✗", "FAILED")


def symbol(symbol: str, fallback: str) -> str:
    """The symbol where the terminal can show it, else the fallback word."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        symbol.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return fallback
    return symbol


def paint(text: str, word: str, colour: bool) -> str:
    """Colour `text` by the status word it shows, when colour is on."""
    shade = _STATUS_COLOURS.get(word)
    return typer.style(text, fg=shade) if colour and shade else text


def short_time(stamp: str | None, *, seconds: bool = True) -> str:
    """`2025-10-10 14:41:31` (UTC) from the storage form; `-` when there is none."""
    if not stamp:
        return "-"
    text = stamp.replace("T", " ")
    return text[:19] if seconds else text[:16]


def value_text(value: Any) -> str:
    """A state value or output as JSON text, printable on one line (a secret `[secret]`)."""

    from domain.secrets import MASK, is_secret

    if is_secret(value):
        return MASK
    return printable(_dumps(value).decode())


def raw_value(value: Any) -> str:
    """Strings as they are for scripts (escaped only on a terminal), anything else as JSON."""
    if not isinstance(value, str):  # a secret reads `[secret]`
        return value_text(value)
    return printable(value) if sys.stdout.isatty() else value


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    min_widths: Sequence[int] = (),
    gap: int = 2,
    colour_column: int | None = None,
    colour: bool = False,
    full_rule: bool = False,
) -> list[str]:
    """Lines of a plain left-aligned table with a dashed rule under the header."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for index, minimum in enumerate(min_widths):
        widths[index] = max(widths[index], minimum - gap)
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    last = len(headers) - 1

    def line(cells: Sequence[str], paint_it: bool = False) -> str:
        parts = []
        for index, cell in enumerate(cells):
            padded = cell if index == last else cell.ljust(widths[index] + gap)
            if paint_it and index == colour_column:
                padded = paint(padded, cell, colour)
            parts.append(padded)
        return "".join(parts).rstrip()

    rule = [("-" * widths[i]) if full_rule else ("-" * len(h)) for i, h in enumerate(headers)]
    return [line(headers), line(rule), *(line(row, True) for row in rows)]
