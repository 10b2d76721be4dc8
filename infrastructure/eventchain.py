"""The tamper-evident chain over the event log.

Every stored event gets a link: `sha256(previous link's hash || stored bytes)`, written in
the transaction that stores the event, in our own table `event_chain`. The stored bytes are
an exact layout of the event's columns (below), so changing any of them changes the hash;
the first event links to 32 zero bytes. Positions (notification ids) may have gaps: the
chain follows the log's order, and each link names the position it follows.

Layout of the stored bytes of one event (integers big-endian, unsigned)::

    position            8 bytes
    originator id       4-byte length, then the UTF-8 bytes of its 32 lower-case hex digits
    originator version  8 bytes
    topic               4-byte length, then its UTF-8 bytes
    state               4-byte length, then the stored bytes

docs/en/audit-log.md describes it for anyone verifying a log without this program.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Protocol

GENESIS = bytes(32)
"""What the first event's link hashes as the previous hash."""

CHAIN_TABLE = "event_chain"

_NUMBER_AND_LENGTH = struct.Struct(">QI").pack
_LENGTH = struct.Struct(">I").pack


def stored_bytes(position: int, originator_id: str, version: int, topic: str,
                 state: bytes) -> bytes:
    """The exact bytes one event's hash covers (see the module's docstring)."""
    oid = originator_id.encode()
    name = topic.encode()
    return (_NUMBER_AND_LENGTH(position, len(oid)) + oid + _NUMBER_AND_LENGTH(version, len(name))
            + name + _LENGTH(len(state)) + state)


def link(previous: bytes, position: int, originator_id: str, version: int, topic: str,
         state: bytes) -> bytes:
    """The hash of one event, chained to the hash before it."""
    oid = originator_id.encode()
    name = topic.encode()
    return sha256(previous + _NUMBER_AND_LENGTH(position, len(oid)) + oid
                  + _NUMBER_AND_LENGTH(version, len(name)) + name + _LENGTH(len(state))
                  + state).digest()


@dataclass(frozen=True, slots=True)
class Link:
    """One row of the chain: the event at `position` follows `previous` (0: the first)."""

    position: int
    previous: int
    digest: bytes


class Cursor(Protocol):
    """The part of a DB-API cursor the chain needs (sqlite3's, eventsourcing's, psycopg's)."""

    def execute(self, statement: Any, parameters: Any = ..., /) -> Any: ...

    def executemany(self, statement: Any, parameters: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


@dataclass(frozen=True)
class ChainSql:
    """The statements of the chain for one backend: the seam between SQLite and PostgreSQL
    (the events table's position column, and the parameter marker)."""

    events_table: str = "stored_events"
    position_column: str = "rowid"
    marker: str = "?"
    integer: str = "INTEGER"
    blob: str = "BLOB"

    def create_table(self) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (notification_id {self.integer}"
                f" PRIMARY KEY, previous_id {self.integer} NOT NULL, hash {self.blob} NOT NULL)")

    def head(self) -> str:
        return (f"SELECT notification_id, hash FROM {CHAIN_TABLE}"
                " ORDER BY notification_id DESC LIMIT 1")

    def any_event_before(self) -> str:
        return (f"SELECT 1 FROM {self.events_table} WHERE {self.position_column} < {self.marker}"
                " LIMIT 1")

    def insert_links(self) -> str:
        m = self.marker
        return (f"INSERT INTO {CHAIN_TABLE} (notification_id, previous_id, hash)"
                f" VALUES ({m}, {m}, {m}) ON CONFLICT (notification_id) DO NOTHING")

    def select_events(self) -> str:
        m, p = self.marker, self.position_column
        return (f"SELECT {p}, originator_id, originator_version, topic, state"
                f" FROM {self.events_table} WHERE {p} > {m} ORDER BY {p} LIMIT {m}")

    def select_linked_events(self) -> str:
        """Events after a position with their links (NULLs where an event has none)."""
        m, p = self.marker, self.position_column
        return (f"SELECT e.{p}, e.originator_id, e.originator_version, e.topic, e.state,"
                f" c.previous_id, c.hash FROM {self.events_table} e LEFT JOIN {CHAIN_TABLE} c"
                f" ON c.notification_id = e.{p} WHERE e.{p} > {m} ORDER BY e.{p} LIMIT {m}")

    def select_orphan_links(self) -> str:
        """Links in a range of positions whose event is gone."""
        m, p = self.marker, self.position_column
        return (f"SELECT notification_id, previous_id, hash FROM {CHAIN_TABLE} c"
                f" WHERE notification_id > {m} AND notification_id <= {m} AND NOT EXISTS"
                f" (SELECT 1 FROM {self.events_table} e WHERE e.{p} = c.notification_id)"
                " ORDER BY notification_id")

    def select_links(self) -> str:
        m = self.marker
        return (f"SELECT notification_id, previous_id, hash FROM {CHAIN_TABLE}"
                f" WHERE notification_id > {m} AND notification_id <= {m}"
                " ORDER BY notification_id")

    def link_before(self) -> str:
        return (f"SELECT notification_id, previous_id, hash FROM {CHAIN_TABLE}"
                f" WHERE notification_id < {self.marker} ORDER BY notification_id DESC LIMIT 1")

    def any_link(self) -> str:
        return f"SELECT 1 FROM {CHAIN_TABLE} LIMIT 1"

    def last_of(self) -> str:
        return (f"SELECT MAX({self.position_column}) FROM {self.events_table}"
                f" WHERE originator_id = {self.marker}")


SQLITE = ChainSql()

EventRow = tuple[int, str, int, str, bytes]
"""A stored event as the chain reads it: position, originator id (hex), version, topic, state."""


def hex_id(originator_id: Any) -> str:
    """The originator id as the layout has it: 32 lower-case hex digits (SQLite stores that
    text; PostgreSQL a uuid)."""
    if isinstance(originator_id, str):
        return originator_id
    hex_digits = getattr(originator_id, "hex", None)  # a UUID
    return hex_digits if isinstance(hex_digits, str) else str(originator_id)


def append_links(cursor: Cursor, sql: ChainSql, events: Sequence[EventRow]) -> list[Link]:
    """Chain events just inserted in this transaction (positions ascending), after the chain's
    head. Nothing is chained in a log that is not sealed (events stored before the chain
    existed and no link yet): `events seal` chains those and everything after.

    Under a broken chain (a link whose event was deleted, say) this still appends from the
    head, and never overwrites a link: `events verify` reports the break.
    """
    if not events:
        return []
    cursor.execute(sql.head())
    head = cursor.fetchone()
    if head is None:
        cursor.execute(sql.any_event_before(), (events[0][0],))
        if cursor.fetchone() is not None:
            return []  # unsealed: older events have no link
        previous, digest = 0, GENESIS
    else:
        previous, digest = int(head[0]), bytes(head[1])
    links = []
    for position, originator_id, version, topic, state in events:
        digest = link(digest, position, originator_id, version, topic, state)
        links.append(Link(position, previous, digest))
        previous = position
    cursor.executemany(sql.insert_links(), [(x.position, x.previous, x.digest) for x in links])
    return links


SEAL_BATCH = 2000


@dataclass(frozen=True)
class Seal:
    """What sealing an unchained log found: its events up to `position` (`events` of them),
    and the hash of the last. The seal's record carries these."""

    position: int
    events: int
    head: bytes


class SealMismatch(Exception):
    """The log changed between planning a seal and writing it."""


def unchained_events(cursor: Cursor, sql: ChainSql, after: int = 0,
                     batch: int = SEAL_BATCH) -> Any:
    """Every stored event after a position, in log order, read in batches on one cursor."""
    while True:
        cursor.execute(sql.select_events(), (after, batch))
        rows = cursor.fetchall()
        for row in rows:
            yield (int(row[0]), hex_id(row[1]), int(row[2]), str(row[3]), bytes(row[4]))
        if len(rows) < batch:
            return
        after = int(rows[-1][0])


def plan_seal(cursor: Cursor, sql: ChainSql) -> Seal | None:
    """The seal an unchained log needs (None: the chain has begun, or there are no events)."""
    cursor.execute(sql.any_link())
    if cursor.fetchone() is not None:
        return None
    digest, position, count = GENESIS, 0, 0
    for event_position, originator_id, version, topic, state in unchained_events(cursor, sql):
        digest = link(digest, event_position, originator_id, version, topic, state)
        position, count = event_position, count + 1
    return Seal(position, count, digest) if count else None


def write_seal(cursor: Cursor, sql: ChainSql, seal: Seal) -> None:
    """Chain every stored event, inside the transaction that records the seal: the events up
    to the seal's position must hash to its head still (else `SealMismatch`)."""
    cursor.execute(sql.any_link())
    if cursor.fetchone() is not None:
        raise SealMismatch("the chain has begun since")
    digest, previous, count = GENESIS, 0, 0
    pending: list[tuple[int, int, bytes]] = []
    for position, originator_id, version, topic, state in unchained_events(cursor, sql):
        digest = link(digest, position, originator_id, version, topic, state)
        pending.append((position, previous, digest))
        previous = position
        count += position <= seal.position
        if position == seal.position and digest != seal.head:
            raise SealMismatch(f"the events up to position {position} changed")
        if len(pending) >= SEAL_BATCH:
            cursor.executemany(sql.insert_links(), pending)
            pending = []
    if count != seal.events:
        raise SealMismatch("events were added or removed")
    cursor.executemany(sql.insert_links(), pending)


class ChainRecorder(Protocol):
    """What an event store's recorder offers for reading the chain (both backends')."""

    def select_links(self, after: int, until: int | None) -> list[Link]: ...

    def select_linked_events(self, after: int, limit: int) -> list[Any]: ...

    def select_orphan_links(self, after: int, until: int | None) -> list[Link]: ...

    def link_before(self, position: int) -> Link | None: ...

    def is_chained(self) -> bool: ...

    def plan_seal(self) -> Seal | None: ...

    def last_position_of(self, originator_id: str) -> int | None: ...
