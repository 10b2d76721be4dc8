"""How locks read: the original tool's status layout and a Terraform-like lock-info block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cli import output
from domain.durations import format_duration
from domain.timestamps import from_text, has_passed


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else from_text(str(value))


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def relative(moment: datetime, now: datetime) -> str:
    delta = moment - now
    if delta > timedelta():
        return f"in {format_duration(delta)}"
    return f"{format_duration(-delta)} ago"


def lock_state(expires_at: Any, now: datetime) -> str:
    return "EXPIRED" if has_passed(_moment(expires_at), now) else "LOCKED"


def lock_info_block(lock: Any, now: datetime) -> list[str]:
    """The holder's details, as Terraform prints them when a lock stands in the way."""
    expires = _moment(lock.expires_at)
    who = lock.locked_by
    if lock.acquired_by_actor != lock.locked_by:
        who += f" (acquired by {lock.acquired_by_actor})"
    return [
        "Lock Info:",
        f"  ID:         {lock.lock_id}",
        f"  Who:        {who}",
        f"  Operation:  {lock.operation or '-'}",
        f"  Reason:     {lock.reason or '-'}",
        f"  Created:    {_clock(_moment(lock.locked_at))} UTC",
        f"  Expires:    {_clock(expires)} UTC ({relative(expires, now)})",
        f"  Generation: {lock.generation}",
    ]


def status_lines(stack: str, lock: Any, now: datetime, colour: bool) -> list[str]:
    """The original tool's "Lock Status Output", plus Lock ID and Expires."""
    if lock is None:
        return [f"Stack: {stack}", f"Status: {output.paint('UNLOCKED', 'UNLOCKED', colour)}"]
    state = lock_state(lock.expires_at, now)
    locked_at = _moment(lock.locked_at)
    expires = _moment(lock.expires_at)
    shown = output.printable
    lines = [
        f"Stack: {stack}",
        f"Status: {output.paint(state, state, colour)}",
        "",
        "Lock Details:",
        f"  Lock ID:      {shown(lock.lock_id)}",
        f"  Locked by:    {shown(lock.locked_by)}",
        f"  Locked at:    {_clock(locked_at)}",
        f"  Operation:    {shown(lock.operation or '-')}",
        f"  Reason:       {shown(lock.reason or '-')}",
        f"  Duration:     {format_duration(max(now - locked_at, timedelta()))}",
        f"  Expires:      {_clock(expires)} ({relative(expires, now)})",
        f"  Generation:   {lock.generation}",
    ]
    if lock.acquired_by_actor != lock.locked_by:
        lines.insert(6, f"  Acquired by:  {shown(lock.acquired_by_actor)}")
    for key, value in (lock.metadata or {}).items():
        lines.append(f"  Metadata:     {shown(key)}={shown(value)}")
    return lines
