"""Walking the event chain: the first place where the log and its links disagree, and what
kind of change explains it.

The walk reads entries in log order, each an event with its link, or one of them alone. It
recomputes every hash from the one before (`infrastructure.eventchain`). A database and an
exported file are walked the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from infrastructure.eventchain import GENESIS, link

if TYPE_CHECKING:
    from infrastructure.eventlog import EventLog

Event = tuple[str, int, str, bytes]
"""A stored event's columns after its position: originator id (hex), version, topic, state."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One position of the log: its event and its link (previous position, hash), or either
    alone when the other is missing."""

    position: int
    event: Event | None
    link: tuple[int, bytes] | None


class BreakKind(StrEnum):
    CHANGED_BYTES = "changed-bytes"
    MISSING = "missing-event"
    INSERTED = "inserted-event"
    REORDERED = "reordered-events"
    CHANGED_HASH = "changed-hash"
    CHECKPOINT = "checkpoint-mismatch"
    UNSEALED = "unsealed"


@dataclass(frozen=True)
class Break:
    """Where the chain first breaks, and how."""

    kind: BreakKind
    position: int
    message: str
    other: int | None = None
    """The second position involved (the event swapped with this one)."""


@dataclass(frozen=True)
class Checkpoint:
    """A position of the log and the hash it had, kept somewhere else."""

    position: int
    digest: bytes


@dataclass(frozen=True)
class Walk:
    """What a walk found: how many events it checked, the last good link, the first break."""

    checked: int
    position: int
    digest: bytes
    broken: Break | None
    checkpoint_matched: bool = False


class _Ahead:
    """An iterator that can look ahead without losing what it saw."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._entries = iter(entries)
        self._seen: deque[Entry] = deque()

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        return self._seen.popleft() if self._seen else next(self._entries)

    def peek(self) -> Entry | None:
        if not self._seen:
            try:
                self._seen.append(next(self._entries))
            except StopIteration:
                return None
        return self._seen[0]

    def rest(self) -> Iterator[Entry]:
        """Everything not yet taken (consumes it)."""
        yield from self._seen
        self._seen.clear()
        yield from self._entries


def walk(entries: Iterable[Entry], *, chained: bool | Callable[[], bool],
         start: tuple[int, bytes] = (0, GENESIS), checkpoint: Checkpoint | None = None,
         progress: Callable[[int], None] | None = None) -> Walk:
    """Check every entry's hash against the one before it; stop at the first break.

    `chained` says (or is asked, when it matters) whether the chain has begun at all: a log
    stored before it existed has no link until sealed. `start` is the link the walk trusts
    to begin from.
    """
    remaining = iter(entries)
    previous, digest = start
    checked = 0
    matched = False

    def result(broken: Break | None) -> Walk:
        return Walk(checked, previous, digest, broken, matched)

    for entry in remaining:
        position = entry.position
        if checkpoint is not None and not matched and position > checkpoint.position:
            return result(_checkpoint_gone(checkpoint))
        if entry.event is None:
            return result(Break(BreakKind.MISSING, position, f"the event at position {position}"
                                " was deleted (its link is still in the chain)"))
        if entry.link is None:
            return result(_unlinked(entry, _Ahead(remaining), chained))
        follows, stored = entry.link
        computed = link(digest, position, *entry.event)
        if follows != previous:
            return result(_out_of_place(entry, _Ahead(remaining), previous, computed))
        if computed != stored:
            return result(_mismatch(entry, _Ahead(remaining), previous, digest, computed))
        previous, digest = position, stored
        checked += 1
        if progress is not None and checked % PROGRESS_EVERY == 0:
            progress(checked)
        if checkpoint is not None and position == checkpoint.position:
            if digest != checkpoint.digest:
                return result(Break(
                    BreakKind.CHECKPOINT, position,
                    f"the chain is consistent but differs from the checkpoint at position "
                    f"{position}: the log up to there was rewritten since"))
            matched = True
    if checkpoint is not None and not matched:
        return result(_checkpoint_gone(checkpoint, end=previous))
    return result(None)


def _checkpoint_gone(checkpoint: Checkpoint, end: int | None = None) -> Break:
    where = (f"the log ends at position {end}, before" if end is not None
             else "the log has no event at")
    return Break(BreakKind.MISSING, checkpoint.position,
                 f"{where} the checkpoint's position {checkpoint.position}: events were deleted")


def _unlinked(entry: Entry, ahead: _Ahead, chained: bool | Callable[[], bool]) -> Break:
    position = entry.position
    if not (chained() if callable(chained) else chained):
        return Break(BreakKind.UNSEALED, position,
                     f"the log is unsealed from position {position}: its events were stored "
                     "before the chain existed")
    after = ahead.peek()
    if after is not None and after.link is not None and after.link[0] == position:
        return Break(BreakKind.CHANGED_HASH, position,
                     f"the link of the event at position {position} was deleted")
    return Break(BreakKind.INSERTED, position,
                 f"the event at position {position} is not in the chain: it was inserted")


def _out_of_place(entry: Entry, ahead: _Ahead, previous: int, computed: bytes) -> Break:
    """The entry's link names another position before it than the walk saw."""
    position = entry.position
    assert entry.link is not None
    follows, stored = entry.link
    if computed == stored:
        return Break(BreakKind.CHANGED_HASH, position,
                     f"the link of the event at position {position} was changed (it names "
                     f"position {follows} before it, not {previous})")
    if follows > previous:
        for later in ahead.rest():
            if later.position == follows:  # (an export's lines can be out of order)
                return Break(BreakKind.REORDERED, position,
                             f"the events at positions {position} and {follows} are out of "
                             "order", other=follows)
        return Break(BreakKind.MISSING, follows,
                     f"the event at position {follows} was deleted, with its link")
    return Break(BreakKind.INSERTED, previous,
                 f"the event at position {previous} is not in the chain: it was inserted")


def _mismatch(entry: Entry, ahead: _Ahead, previous: int, digest: bytes,
              computed: bytes) -> Break:
    """The entry's hash is not what its bytes and the hash before give: its bytes changed,
    its hash was rewritten, it was inserted with a made-up link, or it swapped places with a
    later event."""
    position = entry.position
    assert entry.link is not None and entry.event is not None
    stored = entry.link[1]
    after = ahead.peek()
    if after is not None and after.link is not None and after.link[0] == previous:
        return Break(BreakKind.INSERTED, position,
                     f"the event at position {position} is not in the chain: it was inserted "
                     "(the event after it is linked to the one before it)")
    if (after is not None and after.event is not None and after.link is not None
            and after.link[0] == position
            and link(computed, after.position, *after.event) == after.link[1]):
        return Break(BreakKind.CHANGED_HASH, position,
                     f"the hash of the event at position {position} was rewritten")
    # Does a later event, put here, give this position's hash? Look for the first later
    # event that does not match its own hash: a swap breaks both places.
    before_later = stored
    for later in ahead.rest():
        if later.event is None or later.link is None:
            break
        if link(before_later, later.position, *later.event) != later.link[1]:
            if link(digest, position, *later.event) == stored:
                return Break(BreakKind.REORDERED, position,
                             f"the events at positions {position} and {later.position} were "
                             "swapped", other=later.position)
            break
        before_later = later.link[1]
    detail = "" if after is not None else " (or its hash was rewritten: it is the last event)"
    return Break(BreakKind.CHANGED_BYTES, position,
                 f"the event at position {position} was changed{detail}")


PROGRESS_EVERY = 4096
"""How many events the walk checks between two calls of its progress callback."""


@dataclass(frozen=True)
class Report:
    """The outcome of verifying a log (or an export of one)."""

    walk: Walk
    first: int
    """The first position the walk looked at."""
    last: int | None
    """The last position it was asked to reach (None: the end of the log)."""
    stack_events: int | None = None
    """With a stack named: how many of its events were verified."""

    @property
    def intact(self) -> bool:
        return self.walk.broken is None


def counting(entries: Iterable[Entry], originator_id: str, into: list[int]) -> Iterator[Entry]:
    """Pass entries on, counting (in `into[0]`) those of one aggregate once taken."""
    for entry in entries:
        yield entry
        if entry.event is not None and entry.event[0] == originator_id:
            into[0] += 1


def verify_log(log: EventLog, *, originator_id: str | None = None, start_at: int | None = None,
               checkpoint: Checkpoint | None = None,
               progress: Callable[[int], None] | None = None) -> Report:
    """Walk a stored log's chain, from its first event (or from `start_at`, trusting the
    link before it), to its end (or to the last event of one aggregate)."""
    chain = log.chain
    after, start = 0, (0, GENESIS)
    if start_at is not None and start_at > 1:
        before = chain.link_before(start_at)
        after = start_at - 1
        if before is not None:
            start = (before.position, bytes(before.digest))
    until = None
    if originator_id is not None:
        until = chain.last_position_of(originator_id) or 0
    entries: Iterable[Entry] = log.entries(after, until)
    seen = [0]
    if originator_id is not None:
        entries = counting(entries, originator_id, seen)
    found = walk(entries, chained=chain.is_chained(), start=start, checkpoint=checkpoint,
                 progress=progress)
    return Report(found, after + 1, until, seen[0] if originator_id is not None else None)
