"""The hook processor's own state: each hook's position in the log, and its deliveries.

This is the pattern of a process application that follows an event log: a follower's
position (its tracking record) is written in the same transaction as what it records about
the events it processed, so a crash loses both or neither. Here the follower is a hook and
what it records is the outcome of each delivery.

- `hook_tracking`: one row per hook. `position`: every event up to it was delivered,
  dead-lettered or not wanted by the hook. `owner`/`lease_until`: the process delivering to
  the hook right now (the long-running processor, or a command delivering its own events
  inline); only the owner delivers, so two processes never send the same event by design.
- `hook_deliveries`: one row per event delivered to a hook (the delivery id is
  `HOOK:POSITION`, the same across retries): its status (`delivered`, `retrying`,
  `failed` = dead letter), attempts, timing and the last result.

These tables are not read models: they cannot be derived from the log (they record what
happened outside), so `projections rebuild` never drops them. The SQL is portable (`?`
parameters, `ON CONFLICT` upserts, no SQLite-only functions).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infrastructure.sql import Connection, Cursor, Dialect

DDL = (
    """CREATE TABLE IF NOT EXISTS hook_tracking (
        hook TEXT PRIMARY KEY,
        incarnation INTEGER NOT NULL,
        position INTEGER NOT NULL,
        owner TEXT,
        lease_until TEXT,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS hook_deliveries (
        hook TEXT NOT NULL,
        position INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        stack TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_attempt_at TEXT NOT NULL,
        last_attempt_at TEXT NOT NULL,
        next_attempt_at TEXT,
        duration_ms INTEGER NOT NULL,
        exit_code INTEGER,
        http_status INTEGER,
        error TEXT NOT NULL,
        PRIMARY KEY (hook, position))""",
    "CREATE INDEX IF NOT EXISTS hook_deliveries_by_status"
    " ON hook_deliveries (hook, status, position)",
)

DELIVERED, RETRYING, FAILED = "delivered", "retrying", "failed"


def create_tables(cursor: Cursor, dialect: Dialect) -> None:
    for statement in DDL:
        cursor.execute(dialect.ddl(statement))


def delivery_id(hook: str, position: int) -> str:
    """The id receivers de-duplicate on: the same for every attempt of one delivery."""
    return f"{hook}:{position}"


def parse_delivery_id(text: str) -> tuple[str, int] | None:
    hook, _, position = text.rpartition(":")
    if not hook or not position.isdigit():
        return None
    return hook, int(position)


# ---- who delivers ---------------------------------------------------------------------------

HOST = socket.gethostname()


def new_owner() -> str:
    """This process's identity as an owner of hooks: host, pid and a token of its own."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_gone(owner: str) -> bool:
    """Whether the owner was a process on this machine that no longer runs.

    A process killed with SIGKILL cannot give its hooks back; on the same machine its
    successor need not wait for the lease to run out. Elsewhere, only the lease tells.
    """
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _ = parts
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True, slots=True)
class Claim:
    """A hook this process may now deliver to, from this position on."""

    hook: str
    incarnation: int
    position: int


def claim(cursor: Cursor, hook: str, incarnation: int, start: int, owner: str,
          now: str, lease_until: str) -> Claim | None:
    """Take the hook for `owner` unless another live process holds it (None then).

    A hook seen for the first time starts at `start`; one added again (a new incarnation)
    starts over from its new `start`.
    """
    row = cursor.execute(
        "SELECT incarnation, position, owner, lease_until FROM hook_tracking WHERE hook = ?",
        (hook,)).fetchone()
    if row is None:
        cursor.execute(
            "INSERT INTO hook_tracking (hook, incarnation, position, owner, lease_until,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (hook, incarnation, start, owner, lease_until, now))
        return Claim(hook, incarnation, start)
    held_by, held_until = row[2], row[3]
    if (held_by is not None and held_by != owner and held_until is not None
            and held_until > now and not owner_is_gone(held_by)):
        return None
    position = int(row[1]) if int(row[0]) == incarnation else start
    cursor.execute(
        "UPDATE hook_tracking SET incarnation = ?, position = ?, owner = ?, lease_until = ?,"
        " updated_at = ? WHERE hook = ?",
        (incarnation, position, owner, lease_until, now, hook))
    return Claim(hook, incarnation, position)


def renew(cursor: Cursor, owner: str, hooks: Sequence[str], lease_until: str) -> list[str]:
    """Extend the lease on the hooks this owner still holds; returns those."""
    held = _held(cursor, owner, hooks)
    if held:
        cursor.execute(
            f"UPDATE hook_tracking SET lease_until = ? WHERE owner = ? AND hook IN ({_marks(held)})",
            (lease_until, owner, *held))
    return held


def release(cursor: Cursor, owner: str, hooks: Sequence[str]) -> None:
    """Give hooks back, so that others may deliver to them at once."""
    if hooks:
        cursor.execute(
            "UPDATE hook_tracking SET owner = NULL, lease_until = NULL"
            f" WHERE owner = ? AND hook IN ({_marks(hooks)})", (owner, *hooks))


def _held(cursor: Cursor, owner: str, hooks: Sequence[str]) -> list[str]:
    if not hooks:
        return []
    rows = cursor.execute(
        f"SELECT hook FROM hook_tracking WHERE owner = ? AND hook IN ({_marks(hooks)})",
        (owner, *hooks)).fetchall()
    return [row[0] for row in rows]


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))


class LeaseLost(Exception):
    """Another process took the hook over (this one was thought gone); stop delivering."""


# ---- what happened ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of the latest attempt of one delivery, and where that leaves it."""

    hook: str
    position: int
    event_type: str
    stack: str
    status: str
    attempts: int
    first_attempt_at: str
    last_attempt_at: str
    duration_ms: int
    exit_code: int | None = None
    http_status: int | None = None
    error: str = ""
    next_attempt_at: str | None = None

    @property
    def final(self) -> bool:
        """Delivered or dead-lettered: the hook moves on to its next event."""
        return self.status != RETRYING


_UPSERT = (
    "INSERT INTO hook_deliveries (hook, position, event_type, stack, status, attempts,"
    " first_attempt_at, last_attempt_at, next_attempt_at, duration_ms, exit_code, http_status,"
    " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (hook, position) DO UPDATE SET status = excluded.status,"
    " attempts = excluded.attempts, first_attempt_at = excluded.first_attempt_at,"
    " last_attempt_at = excluded.last_attempt_at, next_attempt_at = excluded.next_attempt_at,"
    " duration_ms = excluded.duration_ms, exit_code = excluded.exit_code,"
    " http_status = excluded.http_status, error = excluded.error"
)


def _row(outcome: Outcome) -> tuple[Any, ...]:
    return (outcome.hook, outcome.position, outcome.event_type, outcome.stack, outcome.status,
            outcome.attempts, outcome.first_attempt_at, outcome.last_attempt_at,
            outcome.next_attempt_at, outcome.duration_ms, outcome.exit_code,
            outcome.http_status, outcome.error)


def record(cursor: Cursor, owner: str, outcomes: Sequence[Outcome], now: str,
           advance_to: dict[str, int] | None = None) -> None:
    """Record outcomes and move each hook past its final ones, in the caller's transaction.

    `advance_to` moves hooks further, past events they do not want. Raises LeaseLost (the
    caller rolls back) if another process has taken one of the hooks over.
    """
    positions = dict(advance_to or {})
    for outcome in outcomes:
        if outcome.final:
            positions[outcome.hook] = max(positions.get(outcome.hook, 0), outcome.position)
    moved = set()
    for hook, position in positions.items():
        cursor.execute("UPDATE hook_tracking SET position = ?, updated_at = ?"
                       " WHERE hook = ? AND owner = ? AND position < ?",
                       (position, now, hook, owner, position))
        if cursor.rowcount:
            moved.add(hook)
    unsure = sorted(({outcome.hook for outcome in outcomes} | set(positions)) - moved)
    if unsure:  # not moved: already past (a repeat), or no longer ours
        lost = set(unsure) - set(_held(cursor, owner, unsure))
        if lost:
            raise LeaseLost(", ".join(sorted(lost)))
    if len(outcomes) == 1:
        cursor.execute(_UPSERT, _row(outcomes[0]))
    elif outcomes:
        cursor.executemany(_UPSERT, [_row(outcome) for outcome in outcomes])


def record_redelivery(cursor: Cursor, outcome: Outcome) -> None:
    """Record a delivery sent again by hand (it is behind the hook's position already)."""
    cursor.execute(_UPSERT, _row(outcome))


# ---- reading ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TrackingRecord:
    hook: str
    incarnation: int
    position: int
    owner: str | None
    lease_until: str | None
    updated_at: str


def tracking(connection: Connection | Cursor,
             hooks: Iterable[str] | None = None) -> dict[str, TrackingRecord]:
    names = list(hooks) if hooks is not None else None
    sql = "SELECT hook, incarnation, position, owner, lease_until, updated_at FROM hook_tracking"
    params: tuple[Any, ...] = ()
    if names is not None:
        if not names:
            return {}
        sql += f" WHERE hook IN ({_marks(names)})"
        params = tuple(names)
    return {row[0]: TrackingRecord(*row) for row in connection.execute(sql, params).fetchall()}


_COLUMNS = ("hook, position, event_type, stack, status, attempts, first_attempt_at,"
            " last_attempt_at, duration_ms, exit_code, http_status, error, next_attempt_at")


def _outcome(row: Sequence[Any]) -> Outcome:
    return Outcome(*row)


def pending_retry(connection: Connection | Cursor, hook: str,
                  after: int) -> Outcome | None:
    """The hook's next delivery after its position, if an attempt failed and it waits."""
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM hook_deliveries WHERE hook = ? AND position > ?"
        " AND status = ? ORDER BY position LIMIT 1", (hook, after, RETRYING)).fetchone()
    return _outcome(row) if row else None


def deliveries(connection: Connection, hook: str, *, failed_only: bool = False,
               limit: int | None = None) -> list[Outcome]:
    """A hook's deliveries, newest first."""
    sql = f"SELECT {_COLUMNS} FROM hook_deliveries WHERE hook = ?"
    params: list[Any] = [hook]
    if failed_only:
        sql += " AND status = ?"
        params.append(FAILED)
    sql += " ORDER BY position DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_outcome(row) for row in connection.execute(sql, params).fetchall()]


def delivery(connection: Connection, hook: str, position: int) -> Outcome | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM hook_deliveries WHERE hook = ? AND position = ?",
        (hook, position)).fetchone()
    return _outcome(row) if row else None


def counts(connection: Connection) -> dict[str, dict[str, int]]:
    """For each hook: how many deliveries are in each status."""
    found: dict[str, dict[str, int]] = {}
    for hook, status, count in connection.execute(
            "SELECT hook, status, COUNT(*) FROM hook_deliveries GROUP BY hook, status"):
        found.setdefault(hook, {})[status] = int(count)
    return found


def text_of(moment: datetime) -> str:
    from domain.timestamps import to_text

    return to_text(moment)
