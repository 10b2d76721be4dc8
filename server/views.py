"""How the web pages show things: values, times, leases, badges, and the stack list's rows.

Every stored value (state values, outputs, values in a diff or a past state, event
documents) reaches a page through `shown`: the one place where a value becomes text, so
that masking a secret there masks it everywhere. Every other string is passed through
`printable` by the template environment (control and bidi characters escaped), and HTML
escaping is Jinja's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from markupsafe import Markup, escape

from domain.durations import format_duration
from domain.timestamps import from_text
from domain.wording import printable

if TYPE_CHECKING:
    from jinja2 import Environment

    from projections.queries.locks import LockRecord
    from projections.queries.resources import DriftSummary
    from projections.queries.stacks import StackSummary

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


# ---- values -----------------------------------------------------------------------------

def shown(value: Any, *, pretty: bool = False) -> Markup:
    """A stored value as a page shows it: JSON on one line, or indented (`pretty`).

    Terraform's sensitive outputs are stored as `<sensitive>` and read so here too; a secret
    reads `[secret]` (the pages never reveal one).
    """
    from domain.secrets import MASK, is_secret, mask_deep

    if is_secret(value):
        return escape(MASK)
    value = mask_deep(value)
    if pretty:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()
        return Markup("\n").join(escape(printable(line)) for line in text.split("\n"))
    return escape(printable(orjson.dumps(value, default=str).decode()))


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` of a template: text given by users cannot act on the page."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value)
    if value is None:
        return ""
    return value


# ---- times ------------------------------------------------------------------------------

def clock(stamp: str | None, *, seconds: bool = True) -> str:
    """`2026-11-29 02:53:35` (UTC) from the storage form; `-` for none."""
    if not stamp:
        return "-"
    text = stamp.replace("T", " ")
    return text[:19] if seconds else text[:16]


def duration(milliseconds: int | None) -> str:
    """`71ms`, `5m 23s`; `-` for a run that has not ended."""
    return "-" if milliseconds is None else format_duration(timedelta(milliseconds=milliseconds))


def relative(stamp: str, now: datetime) -> str:
    """`in 42m 10s` or `3m 2s ago`."""
    delta = from_text(stamp) - now
    if delta > timedelta():
        return f"in {format_duration(delta)}"
    return f"{format_duration(-delta)} ago"


def lease_left(expires_at: str, now: datetime) -> str:
    """What is left of a lock's lease: `42m 10s left`, or `expired 3m ago`."""
    delta = from_text(expires_at) - now
    if delta > timedelta():
        return f"{format_duration(delta)} left"
    return f"expired {format_duration(-delta)} ago"


def lock_state(lock: LockRecord | None, now: datetime) -> str:
    """LOCKED, EXPIRED (a lease that ran out and was not taken over) or UNLOCKED."""
    if lock is None:
        return "UNLOCKED"
    return "EXPIRED" if from_text(lock.expires_at) <= now else "LOCKED"


def holds(lock: LockRecord, actor: str) -> bool:
    """Whether `actor` is the lock's holder (as the domain judges a release by name)."""
    return actor in (lock.locked_by, lock.acquired_by_actor)


# ---- the stack list ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StackRow:
    """One line of the stack list: the CLI's columns, with lock and drift badges."""

    name: str
    status: str
    last_run: str | None
    duration_ms: int | None
    executions: int
    lock: str
    """LOCKED, EXPIRED or UNLOCKED."""
    locked_by: str | None
    drift: str
    """drifted, unknown, in_sync, or unchecked."""
    drifted: int


def drift_state(summary: DriftSummary | None) -> str:
    if summary is None or summary.checked_at is None:
        return "unchecked"
    if summary.drifted:
        return "drifted"
    return "unknown" if summary.unknown else "in_sync"


def stack_rows(stacks: Iterable[StackSummary], locks: Mapping[str, LockRecord],
               drift: Mapping[str, DriftSummary], now: datetime) -> list[StackRow]:
    rows = []
    for stack in stacks:
        lock = locks.get(stack.id)
        summary = drift.get(stack.id)
        rows.append(StackRow(
            name=stack.name, status=stack.status, last_run=stack.last_execution,
            duration_ms=stack.last_duration_ms, executions=stack.execution_count,
            lock=lock_state(lock, now), locked_by=lock.locked_by if lock else None,
            drift=drift_state(summary), drifted=summary.drifted if summary else 0))
    return rows


_LOCK_ORDER = {"LOCKED": 0, "EXPIRED": 1, "UNLOCKED": 2}
_DRIFT_ORDER = {"drifted": 0, "unknown": 1, "in_sync": 2, "unchecked": 3}

SORTS: dict[str, Callable[[StackRow], Any]] = {
    "name": lambda row: row.name,
    "status": lambda row: (row.status, row.name),
    "last_run": lambda row: (row.last_run or "", row.name),
    "duration": lambda row: (row.duration_ms if row.duration_ms is not None else -1, row.name),
    "executions": lambda row: (row.executions, row.name),
    "lock": lambda row: (_LOCK_ORDER[row.lock], row.name),
    "drift": lambda row: (_DRIFT_ORDER[row.drift], -row.drifted, row.name),
}
"""The stack list's columns, each with how it sorts (ties by name)."""


def sorted_rows(rows: list[StackRow], column: str, descending: bool) -> list[StackRow]:
    return sorted(rows, key=SORTS[column], reverse=descending)


def matching(rows: Iterable[StackRow], text: str) -> list[StackRow]:
    """The rows whose name holds `text`, in any case."""
    wanted = text.strip().casefold()
    return [row for row in rows if wanted in row.name.casefold()]


# ---- templates --------------------------------------------------------------------------

@cache
def environment() -> Environment:
    """The pages' templates (loaded once; Jinja renders from any thread)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
        default=True, default_for_string=True), undefined=StrictUndefined, finalize=_finalize,
        trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(value=shown, clock=clock, duration=duration)
    return env
