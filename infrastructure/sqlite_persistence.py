"""eventsourcing's SQLite persistence, with the event chain written beside the events.

`infrastructure.eventstore.sqlite_environment` names the factory here as the persistence
module. The application recorder differs from eventsourcing's own in one way: inserting
events also links each of them into `event_chain` (`infrastructure.eventchain`), in the same
transaction, so an event is never stored without its link or the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteFactory
from eventsourcing.utils import strtobool

from infrastructure import eventchain
from infrastructure.eventchain import SQLITE, Link, Seal

CHAINED = "EVENT_CHAIN"
"""The environment key that turns the chain off (`n`): for measuring what it costs only."""


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """Stores events and their links in one transaction; reads them back for verifying."""

    chained = True

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), SQLITE.create_table()]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        seal: Seal | None = kwargs.pop("seal", None)
        ids = super()._insert_events(c, stored_events, **kwargs)
        if seal is not None:
            eventchain.write_seal(c, SQLITE, seal)  # chains these events too
        elif self.chained and ids:
            eventchain.append_links(c, SQLITE, [
                (position, eventchain.hex_id(event.originator_id), event.originator_version,
                 event.topic, event.state)
                for position, event in zip(ids, stored_events, strict=True)])
        return ids

    # ---- reading the chain (see infrastructure.eventlog) --------------------------------

    def select_linked_events(self, after: int, limit: int) -> list[Any]:
        """Up to `limit` stored events after a position, each with its link's previous
        position and hash (NULLs when it has none)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.select_linked_events(), (after, limit))
            return list(c.fetchall())

    def select_orphan_links(self, after: int, until: int | None) -> list[Link]:
        """The links after a position (up to `until`) whose event is gone."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.select_orphan_links(),
                      (after, until if until is not None else 2**63 - 1))
            return [Link(row[0], row[1], row[2]) for row in c.fetchall()]

    def select_links(self, after: int, until: int | None) -> list[Link]:
        """The links after a position, up to `until` (to the end when None)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.select_links(), (after, until if until is not None else 2**63 - 1))
            return [Link(row[0], row[1], row[2]) for row in c.fetchall()]

    def link_before(self, position: int) -> Link | None:
        """The last link before a position (None: there is none)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.link_before(), (position,))
            row = c.fetchone()
        return Link(row[0], row[1], row[2]) if row is not None else None

    def is_chained(self) -> bool:
        """Whether the chain has begun (a log stored before it existed has not, until sealed)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.any_link())
            return c.fetchone() is not None

    def last_position_of(self, originator_id: str) -> int | None:
        """The position of the newest event of one aggregate (its id in hex)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE.last_of(), (originator_id,))
            row = c.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else None

    def plan_seal(self) -> Seal | None:
        """What sealing would chain (None: nothing to seal)."""
        with self.datastore.transaction(commit=False) as c:
            return eventchain.plan_seal(c, SQLITE)


class StackSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory with the chained recorder."""

    application_recorder_class = ChainedSQLiteApplicationRecorder

    def application_recorder(self) -> Any:
        recorder = super().application_recorder()
        if isinstance(recorder, ChainedSQLiteApplicationRecorder):
            recorder.chained = bool(strtobool(self.env.get(CHAINED) or "y"))
        return recorder
