"""The event chain through the runtime, on SQLite and on PostgreSQL: written with every event
in its transaction, verified, sealed, tampering found."""

from __future__ import annotations

from typing import Any

import pytest

from commands.models import CreateStack, SetValues
from commands.sealing import LogSealer
from infrastructure.chaincheck import BreakKind, verify_log
from infrastructure.runtime import Runtime
from tests.conftest import Database, database_of, execute, invocation, rows


def names(db: Database) -> dict[str, str]:
    if isinstance(db, str):
        return {"events": "slothrunner_events", "position": "notification_id"}
    return {"events": "stored_events", "position": "rowid"}


def write(runtime: Runtime, values: int) -> None:
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), invocation())
    for i in range(values):
        service.set_values(SetValues(stack="app", values={"k": i}), invocation())


def broken(runtime: Runtime) -> tuple[BreakKind, int] | None:
    found = verify_log(runtime.event_log()).walk.broken
    return None if found is None else (found.kind, found.position)


def test_appends_are_chained_and_verify(runtime: Runtime) -> None:
    write(runtime, 5)
    links = rows(database_of(runtime), "SELECT notification_id, previous_id FROM event_chain"
                 " ORDER BY notification_id")
    assert links == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)]
    report = verify_log(runtime.event_log())
    assert report.walk.broken is None and report.walk.checked == 6


def test_tampering_is_found_on_either_backend(runtime: Runtime) -> None:
    write(runtime, 5)
    db = database_of(runtime)
    execute(db, "UPDATE event_chain SET previous_id = 1 WHERE notification_id = 3")
    assert broken(runtime) == (BreakKind.CHANGED_HASH, 3)
    execute(db, "UPDATE event_chain SET previous_id = 2 WHERE notification_id = 3",
            "DELETE FROM {events} WHERE {position} = 4".format(**names(db)))
    assert broken(runtime) == (BreakKind.MISSING, 4)


def test_a_failing_append_leaves_neither_event_nor_link(runtime: Runtime) -> None:
    write(runtime, 1)
    db = database_of(runtime)
    if isinstance(db, str):
        execute(db, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'no link'; END $$",
                "CREATE TRIGGER refuse BEFORE INSERT ON event_chain FOR EACH ROW"
                " EXECUTE FUNCTION refuse()")
    else:
        execute(db, "CREATE TRIGGER refuse BEFORE INSERT ON event_chain"
                " BEGIN SELECT RAISE(ABORT, 'no link'); END")
    # (SQLite reports the trigger as a constraint: the service retries, then gives up)
    with pytest.raises(Exception, match=r"no link|kept changing"):
        runtime.service().set_values(SetValues(stack="app", values={"k": 99}), invocation())
    assert rows(db, "SELECT COUNT(*) FROM {events}".format(**names(db))) == [(2,)]
    assert rows(db, "SELECT COUNT(*) FROM event_chain") == [(2,)]
    execute(db, "DROP TRIGGER refuse ON event_chain" if isinstance(db, str)
            else "DROP TRIGGER refuse")
    runtime.service().set_values(SetValues(stack="app", values={"k": 100}), invocation())
    assert broken(runtime) is None


def test_a_log_stored_before_the_chain_is_sealed_once(runtime: Runtime) -> None:
    recorder: Any = runtime.store().recorder
    recorder.chained = False  # as a release before the chain wrote them
    write(runtime, 3)
    recorder.chained = True
    assert broken(runtime) == (BreakKind.UNSEALED, 1)
    runtime.service().set_values(SetValues(stack="app", values={"k": 7}), invocation())
    assert rows(database_of(runtime), "SELECT COUNT(*) FROM event_chain") == [(0,)]
    sealer = LogSealer(runtime.store(), runtime.event_log().chain)
    sealed = sealer.seal(invocation())
    assert (sealed.events, sealed.position) == (5, 5)
    assert broken(runtime) is None
    assert verify_log(runtime.event_log()).walk.checked == 6
    assert sealer.seal(invocation()).events == 0
    runtime.catch_up()
    assert rows(database_of(runtime), "SELECT COUNT(*) FROM state_events WHERE event_type ="
                " 'log.sealed'") == [(1,)]
