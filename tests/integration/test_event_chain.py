"""The event chain on real SQLite files: written with every event, in its transaction; a
log stored before it sealed once; every kind of tampering found where it happened."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.models import CreateStack
from commands.sealing import LogSealer
from domain.errors import CheckFailed
from domain.names import stack_id
from infrastructure.chaincheck import BreakKind, Checkpoint, verify_log, walk
from infrastructure.eventchain import GENESIS, stored_bytes
from infrastructure.eventlog import EventLog
from infrastructure.eventstore import StackStore, open_sqlite_store, sqlite_environment
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from infrastructure.sqlite import DatabaseFile
from projections.export import export_entries, export_events
from tests.conftest import invocation

EVENTS = 10_000


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection, committed and closed after (so a copy of the file has it all)."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def open_store(path: Path, *, chained: bool = True) -> StackStore:
    return StackStore(env=sqlite_environment(path, create_tables=True, chained=chained))


def write_history(store: StackStore, name: str, events: int) -> None:
    """A stack with `events` events, written 100 at a time through the store."""
    from domain.stack import Stack

    stack = Stack.create(name, "", invocation())
    store.save(stack)
    while stack.version < events:
        inv = invocation()
        for j in range(min(100, events - stack.version)):
            stack.set_values({f"k{j % 10}": stack.version + j}, inv)
        store.save(stack)


def check(path: Path, **options: object) -> object:
    store = open_store(path)
    try:
        return verify_log(EventLog(store.recorder), **options)  # type: ignore[arg-type]
    finally:
        store.close()


def broken(path: Path) -> tuple[BreakKind, int, int | None] | None:
    report = check(path)
    found = report.walk.broken  # type: ignore[attr-defined]
    return None if found is None else (found.kind, found.position, found.other)


def chain_rows(path: Path) -> list[tuple[int, int, bytes]]:
    with connect(path) as connection:
        return connection.execute("SELECT * FROM event_chain ORDER BY notification_id").fetchall()


def recomputed(path: Path) -> list[bytes]:
    """Every hash of the log, computed from the layout the documentation gives."""
    digest, hashes = GENESIS, []
    with connect(path) as connection:
        for row in connection.execute("SELECT rowid, originator_id, originator_version, topic,"
                                      " state FROM stored_events ORDER BY rowid"):
            digest = sha256(digest + stored_bytes(*row)).digest()
            hashes.append(digest)
    return hashes


# ---- written with every event ----------------------------------------------------------------

def test_every_stored_event_is_linked_to_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = open_store(path)
    write_history(store, "app", 250)
    store.close()
    rows = chain_rows(path)
    assert [row[0] for row in rows] == list(range(1, 251))
    assert [row[1] for row in rows] == list(range(0, 250))
    assert [row[2] for row in rows] == recomputed(path)
    assert broken(path) is None


def test_a_failing_append_leaves_neither_event_nor_link(tmp_path: Path) -> None:
    from eventsourcing.persistence import IntegrityError

    from domain.stack import Stack

    path = tmp_path / "log.db"
    store = open_store(path)
    write_history(store, "app", 3)
    # The link's insert fails inside the append's transaction (as a crash between the two
    # would): a trigger refuses the fourth link.
    with connect(path) as connection:
        connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON event_chain WHEN"
                           " NEW.notification_id = 4 BEGIN SELECT RAISE(ABORT, 'no'); END")
    stack = store.repository.get(stack_id("app"))
    stack.set_values({"x": 1}, invocation())
    with pytest.raises(IntegrityError):
        store.save(stack)
    with connect(path) as connection:
        assert connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] == 3
        connection.execute("DROP TRIGGER refuse")
    assert len(chain_rows(path)) == 3
    fresh = store.repository.get(stack_id("app"))
    assert isinstance(fresh, Stack) and fresh.version == 3
    store.close()
    assert broken(path) is None


def test_the_chain_can_be_left_out_only_by_the_store_s_flag(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = open_store(path, chained=False)
    write_history(store, "app", 5)
    store.close()
    assert chain_rows(path) == []
    assert broken(path) == (BreakKind.UNSEALED, 1, None)


# ---- sealing a log stored before the chain ----------------------------------------------------

def sealed(path: Path) -> object:
    store = open_store(path)
    try:
        return LogSealer(store, EventLog(store.recorder).chain).seal(invocation())
    finally:
        store.close()


def test_an_unchained_log_is_sealed_once_and_the_seal_recorded(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = open_store(path, chained=False)
    write_history(store, "app", 40)
    store.close()
    # Events written after the upgrade but before the seal stay unchained too.
    store = open_store(path)
    write_history(store, "web", 2)
    store.close()
    assert chain_rows(path) == []
    outcome = sealed(path)
    assert (outcome.events, outcome.position) == (42, 42)  # type: ignore[attr-defined]
    rows = chain_rows(path)
    assert len(rows) == 43  # and the seal's own event, chained after them
    assert [row[2] for row in rows] == recomputed(path)
    assert outcome.head == rows[41][2].hex()  # type: ignore[attr-defined]
    with connect(path) as connection:
        topic, state = connection.execute(
            "SELECT topic, state FROM stored_events WHERE rowid = 43").fetchone()
    assert topic == "log.sealed" and b'"events":42' in state
    assert broken(path) is None
    assert sealed(path).events == 0  # type: ignore[attr-defined]
    assert len(chain_rows(path)) == 43


def test_a_sealed_log_whose_chain_was_removed_is_not_sealed_again(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = open_store(path, chained=False)
    write_history(store, "app", 3)
    store.close()
    sealed(path)
    with connect(path) as connection:
        connection.execute("DELETE FROM event_chain")
    with pytest.raises(CheckFailed, match="sealed before"):
        sealed(path)
    assert chain_rows(path) == []


def test_a_database_of_an_earlier_release_gets_the_chain_table_and_is_sealed(
        tmp_path: Path) -> None:
    from tests.integration.test_database_ownership import load_unmarked_fixture

    path = load_unmarked_fixture(tmp_path / "old.db")
    runtime = Runtime(Settings(db_path=path))
    try:
        found = verify_log(runtime.event_log()).walk.broken
        assert found is not None and (found.kind, found.position) == (BreakKind.UNSEALED, 1)
        outcome = LogSealer(runtime.store(), runtime.event_log().chain).seal(invocation())
        assert outcome.events == 8
        runtime.catch_up()
        assert verify_log(runtime.event_log()).walk.broken is None
        message = runtime.connection().execute(
            "SELECT message FROM state_events WHERE event_type = 'log.sealed'").fetchone()[0]
    finally:
        runtime.close()
    assert message.startswith("event log sealed: 8 events stored before the chain chained")


# ---- exports -------------------------------------------------------------------------------

def exported(path: Path) -> list[bytes]:
    import orjson

    store = open_store(path)
    try:
        return [orjson.dumps(doc) for doc in export_events(EventLog(store.recorder), {})]
    finally:
        store.close()


def file_break(lines: list[bytes]) -> tuple[BreakKind, int, int | None] | None:
    found = walk(export_entries(lines, "export.jsonl"), chained=True).broken
    return None if found is None else (found.kind, found.position, found.other)


def test_an_export_verifies_offline_and_tampering_in_it_is_found(tmp_path: Path) -> None:
    import orjson

    path = tmp_path / "log.db"
    store = open_store(path)
    store.save(__import__("domain.stack", fromlist=["Stack"]).Stack.create("x", "d", invocation()))
    write_history(store, "app", 20)
    store.close()
    lines = exported(path)
    assert len(lines) == 21 and file_break(lines) is None
    assert walk(export_entries(lines, "e"), chained=True,
                checkpoint=Checkpoint(10, chain_rows(path)[9][2])).checkpoint_matched

    changed = orjson.loads(lines[5])
    changed["data"]["value"] = "forged"
    assert file_break([*lines[:5], orjson.dumps(changed), *lines[6:]]) == (
        BreakKind.CHANGED_BYTES, 6, None)
    assert file_break([*lines[:5], *lines[6:]]) == (BreakKind.MISSING, 6, None)
    assert file_break([*lines[:5], lines[6], lines[5], *lines[7:]]) == (
        BreakKind.REORDERED, 7, 6)
    forged = orjson.loads(lines[5])
    forged.update(position=1000, hash=None, previous_position=None)
    assert file_break([*lines, orjson.dumps(forged)]) == (BreakKind.INSERTED, 1000, None)
    rehashed = orjson.loads(lines[5])
    rehashed["hash"] = "00" * 32
    assert file_break([*lines[:5], orjson.dumps(rehashed), *lines[6:]]) == (
        BreakKind.CHANGED_HASH, 6, None)


# ---- every kind of tampering, at random places in a long log ---------------------------------

@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """10,000 events at positions 2, 4, ..., 20,000 (positions may have gaps, as on
    PostgreSQL), stored unchained, renumbered, then sealed: built once per module."""
    path = tmp_path_factory.mktemp("chain") / "long.db"
    store = open_store(path, chained=False)
    write_history(store, "app", EVENTS // 2)
    write_history(store, "web", EVENTS // 2)
    store.close()
    with connect(path) as connection:
        connection.execute("UPDATE stored_events SET rowid = rowid + 100000")
        connection.execute("UPDATE stored_events SET rowid = (rowid - 100000) * 2")
    outcome = sealed(path)
    assert outcome.events == EVENTS  # type: ignore[attr-defined]
    with connect(path) as connection:  # the seal's own event is not one of the 10,000
        connection.execute("DELETE FROM stored_events WHERE topic = 'log.sealed'")
        connection.execute(f"DELETE FROM event_chain WHERE notification_id > {2 * EVENTS}")
    with connect(path) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")  # one file to copy
    yield path


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def tampered(long_log: Path, scratch: Path, *statements: tuple[str, tuple[object, ...]]) -> Path:
    copy = scratch / f"{uuid4().hex}.db"
    shutil.copyfile(long_log, copy)
    with connect(copy) as connection:
        for statement, parameters in statements:
            connection.execute(statement, parameters)
    return copy


PROPERTIES = settings(max_examples=12, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])
INDEX = st.integers(min_value=1, max_value=EVENTS)


def test_an_untouched_long_log_verifies(long_log: Path) -> None:
    report = check(long_log)
    assert report.walk.broken is None and report.walk.checked == EVENTS  # type: ignore[attr-defined]
    assert report.walk.position == 2 * EVENTS  # type: ignore[attr-defined]


@PROPERTIES
@given(index=INDEX, offset=st.integers(min_value=0, max_value=10_000),
       column=st.sampled_from(["state", "topic", "originator_version", "originator_id"]))
def test_a_changed_byte_is_found_where_it_is(long_log: Path, scratch: Path, index: int,
                                             offset: int, column: str) -> None:
    position = 2 * index
    with connect(long_log) as connection:
        value = connection.execute(f"SELECT {column} FROM stored_events WHERE rowid = ?",
                                   (position,)).fetchone()[0]
    if column == "originator_version":
        changed: object = value + 10**9
    else:
        raw = bytearray(value if isinstance(value, bytes) else value.encode())
        raw[offset % len(raw)] ^= 0x01
        changed = bytes(raw) if isinstance(value, bytes) else raw.decode("latin-1")
    path = tampered(long_log, scratch, (f"UPDATE stored_events SET {column} = ? WHERE rowid = ?",
                                        (changed, position)))
    assert broken(path) == (BreakKind.CHANGED_BYTES, position, None)


@PROPERTIES
@given(index=INDEX, with_link=st.booleans())
def test_a_deleted_event_is_found_where_it_was(long_log: Path, scratch: Path, index: int,
                                               with_link: bool) -> None:
    position = 2 * index
    statements = [("DELETE FROM stored_events WHERE rowid = ?", (position,))]
    if with_link:
        statements.append(("DELETE FROM event_chain WHERE notification_id = ?", (position,)))
    path = tampered(long_log, scratch, *statements)
    if with_link and index == EVENTS:
        assert broken(path) is None  # a cut tail: only a checkpoint shows it (next test)
        return
    assert broken(path) == (BreakKind.MISSING, position, None)


def test_a_cut_tail_is_found_against_a_checkpoint(long_log: Path, scratch: Path) -> None:
    head = chain_rows(long_log)[-1]
    path = tampered(long_log, scratch,
                    ("DELETE FROM stored_events WHERE rowid > ?", (2 * EVENTS - 10,)),
                    ("DELETE FROM event_chain WHERE notification_id > ?", (2 * EVENTS - 10,)))
    report = check(path, checkpoint=Checkpoint(head[0], head[2]))
    found = report.walk.broken  # type: ignore[attr-defined]
    assert (found.kind, found.position) == (BreakKind.MISSING, 2 * EVENTS)


@PROPERTIES
@given(first=INDEX, second=INDEX)
def test_swapped_events_are_found_as_reordered(long_log: Path, scratch: Path, first: int,
                                               second: int) -> None:
    if first == second:
        return
    low, high = 2 * min(first, second), 2 * max(first, second)
    path = tampered(
        long_log, scratch,
        ("UPDATE stored_events SET rowid = -1 WHERE rowid = ?", (low,)),
        ("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (low, high)),
        ("UPDATE stored_events SET rowid = ? WHERE rowid = -1", (high,)))
    assert broken(path) == (BreakKind.REORDERED, low, high)


@PROPERTIES
@given(index=st.integers(min_value=0, max_value=EVENTS), linked=st.booleans())
def test_a_forged_event_is_found_where_it_was_inserted(long_log: Path, scratch: Path,
                                                       index: int, linked: bool) -> None:
    position = 2 * index + 1  # a free position: before the first, between two, or after
    statements = [("INSERT INTO stored_events (rowid, originator_id, originator_version, topic,"
                   " state) VALUES (?, ?, ?, 'state.set', ?)",
                   (position, stack_id("app").hex, 10**9 + index, b'{"forged":true}'))]
    if linked:  # a forger who also writes a link, with a made-up hash
        statements.append(("INSERT INTO event_chain VALUES (?, ?, ?)",
                           (position, max(position - 1, 0), bytes(32))))
    path = tampered(long_log, scratch, *statements)
    if linked and index == EVENTS:
        # after the last event, a made-up link looks like a change of the last event
        assert broken(path) == (BreakKind.CHANGED_BYTES, position, None)
        return
    assert broken(path) == (BreakKind.INSERTED, position, None)


@PROPERTIES
@given(index=st.integers(min_value=1, max_value=EVENTS - 1), digest=st.binary(min_size=32,
                                                                                max_size=32))
def test_a_rewritten_hash_is_found_where_it_is(long_log: Path, scratch: Path, index: int,
                                               digest: bytes) -> None:
    position = 2 * index
    path = tampered(long_log, scratch,
                    ("UPDATE event_chain SET hash = ? WHERE notification_id = ?",
                     (digest, position)))
    assert broken(path) == (BreakKind.CHANGED_HASH, position, None)


def test_a_rewritten_hash_of_the_last_event_is_reported_as_a_change_there(
        long_log: Path, scratch: Path) -> None:
    path = tampered(long_log, scratch, ("UPDATE event_chain SET hash = ? WHERE"
                                        " notification_id = ?", (bytes(32), 2 * EVENTS)))
    assert broken(path) == (BreakKind.CHANGED_BYTES, 2 * EVENTS, None)


def test_a_recomputed_chain_is_caught_by_a_checkpoint(long_log: Path, scratch: Path) -> None:
    """A forger who rewrites an event and every hash after it leaves a consistent chain;
    the checkpoint taken before shows it."""
    head = chain_rows(long_log)[-1]
    path = tampered(long_log, scratch, ("UPDATE stored_events SET state = ? WHERE rowid = 100",
                                        (b'{"rewritten":true}',)))
    with connect(path) as connection:
        for (position, digest) in zip(range(2, 2 * EVENTS + 1, 2), recomputed(path),
                                      strict=True):
            connection.execute("UPDATE event_chain SET hash = ? WHERE notification_id = ?",
                               (digest, position))
    assert broken(path) is None
    found = check(path, checkpoint=Checkpoint(head[0], head[2])).walk.broken  # type: ignore[attr-defined]
    assert (found.kind, found.position) == (BreakKind.CHECKPOINT, 2 * EVENTS)


def test_verifying_one_stack_walks_the_chain_up_to_its_last_event(long_log: Path) -> None:
    report = check(long_log, originator_id=stack_id("app").hex)
    assert report.walk.broken is None  # type: ignore[attr-defined]
    assert report.stack_events == EVENTS // 2  # type: ignore[attr-defined]
    assert report.walk.position == EVENTS  # type: ignore[attr-defined]


def test_verifying_from_a_position_trusts_the_link_before_it(long_log: Path,
                                                              scratch: Path) -> None:
    path = tampered(long_log, scratch, ("UPDATE stored_events SET state = x'00' WHERE rowid = 10",
                                        ()))
    assert broken(path) == (BreakKind.CHANGED_BYTES, 10, None)
    report = check(path, start_at=11)
    assert report.walk.broken is None and report.walk.checked == EVENTS - 5  # type: ignore[attr-defined]


def test_the_database_opened_read_only_verifies(long_log: Path) -> None:
    database = DatabaseFile(long_log, empty=False, read_only_reason="testing")
    store = open_sqlite_store(database, create_tables=False)
    try:
        assert verify_log(EventLog(store.recorder)).walk.broken is None
    finally:
        store.close()


def test_a_created_stack_through_the_service_is_chained(runtime: Runtime) -> None:
    runtime.service().create_stack(CreateStack(stack="svc"), invocation())
    assert verify_log(runtime.event_log()).walk.checked == 1


def test_an_event_whose_fields_do_not_give_back_its_bytes_is_exported_with_them(
        tmp_path: Path) -> None:
    import orjson

    path = tmp_path / "log.db"
    store = open_store(path, chained=False)
    write_history(store, "app", 3)
    store.close()
    with connect(path) as connection:  # as another program might have written it
        state = connection.execute("SELECT state FROM stored_events WHERE rowid = 2").fetchone()[0]
        spaced = orjson.dumps(orjson.loads(state), option=orjson.OPT_INDENT_2)
        connection.execute("UPDATE stored_events SET state = ? WHERE rowid = 2", (spaced,))
    sealed(path)
    lines = exported(path)
    documents = [orjson.loads(line) for line in lines]
    assert [("state" in document) for document in documents] == [False, True, False, False]
    assert documents[1]["state"].encode() == spaced
    assert file_break(lines) is None
    edited = [dict(d) for d in documents]
    edited[1]["data"] = {**edited[1]["data"], "value": "changed"}  # the fields, not `state`
    assert file_break([orjson.dumps(d) for d in edited]) == (BreakKind.CHANGED_BYTES, 2, None)
    documents[1]["state"] = documents[1]["state"].replace("k0", "k9")
    documents[1]["data"]["key"] = "k9"
    assert file_break([orjson.dumps(d) for d in documents]) == (BreakKind.CHANGED_BYTES, 2, None)
