"""`events seal`, `events verify`, `events checkpoint` in real processes: exit codes, the
one-line messages, checkpoints kept in a file, exports verified without the database."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.cli.test_bad_input import assert_refused
from tests.conftest import Database, ProcRun, event_count, rows


def tables(db: Database) -> dict[str, str]:
    """The names a statement uses on the test database's backend."""
    if isinstance(db, str):
        return {"events": "slothrunner_events", "position": "notification_id"}
    return {"events": "stored_events", "position": "rowid"}


def tamper(db: Database, statement: str, *parameters: object) -> None:
    """Change the database behind the program's back (`{events}`, `{position}`: its names)."""
    statement = statement.format(**tables(db))
    if isinstance(db, str):
        import psycopg

        from infrastructure.sql import translate

        with psycopg.connect(db, autocommit=True) as connection:
            connection.execute(translate(statement).encode(), parameters)
        return
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute(statement, parameters)


def state_of(db: Database, position: int) -> bytes:
    found = rows(db, "SELECT state FROM {events} WHERE {position} = ?".format(**tables(db)),
                 (position,))
    return bytes(found[0][0])  # type: ignore[arg-type]


@pytest.fixture
def history(proc: ProcRun) -> None:
    assert proc("stack", "create", "app").returncode == 0
    assert proc("stack", "state", "set", "app", "a=1", "b=2").returncode == 0
    assert proc("stack", "create", "web").returncode == 0
    assert proc("stack", "output", "web", "--set", "url=https://web").returncode == 0


def test_an_intact_log_verifies_with_exit_0(proc: ProcRun, history: None) -> None:
    done = proc("events", "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "✓ Event log intact: 5 events verified (positions 1-5)"
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    document = json.loads(proc("events", "verify", "--json").stdout)
    assert document["ok"] is True and document["checked"] == 5 and document["break"] is None


def test_a_changed_event_fails_with_one_line_naming_its_position(
        proc: ProcRun, history: None, db_path: Database) -> None:
    changed = state_of(db_path, 2).replace(b'"1"', b'"9"')
    assert changed != state_of(db_path, 2)
    tamper(db_path, "UPDATE {events} SET state = ? WHERE {position} = 2", changed)
    before = event_count(db_path)
    done = proc("events", "verify")
    assert_refused(done, 1, db_path, before,
                   fragment="the event chain is broken at position 2 (changed-bytes)")
    document = json.loads(proc("events", "verify", "--json").stdout)
    assert document["ok"] is False
    assert document["break"]["kind"] == "changed-bytes" and document["break"]["position"] == 2


def test_a_deleted_event_is_named(proc: ProcRun, history: None, db_path: Database) -> None:
    tamper(db_path, "DELETE FROM {events} WHERE {position} = 3")
    done = proc("events", "verify")
    assert done.returncode == 1
    assert "at position 3 (missing-event)" in done.stderr


def test_one_stack_is_reported_over_the_chain_up_to_it(proc: ProcRun, history: None,
                                                       db_path: Database) -> None:
    done = proc("events", "verify", "--stack", "app")
    assert done.returncode == 0
    assert done.stdout.startswith("✓ Stack 'app': 3 events verified; the chain checked over "
                                  "3 events (positions 1-3)")
    tamper(db_path, "UPDATE event_chain SET hash = ? WHERE notification_id = 4", bytes(32))
    assert proc("events", "verify", "--stack", "app").returncode == 0  # after its last event
    assert proc("events", "verify", "--stack", "web").returncode == 1
    assert_refused(proc("events", "verify", "--stack", "nope"), 4, db_path, 5,
                   fragment="stack 'nope' not found")


def test_a_checkpoint_round_trip(proc: ProcRun, history: None, db_path: Database,
                                 tmp_path: Path) -> None:
    done = proc("events", "checkpoint", "--json")
    assert done.returncode == 0
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(done.stdout)
    document = json.loads(done.stdout)
    assert document["position"] == 5 and len(document["hash"]) == 64 and document["time"]
    assert proc("stack", "state", "set", "app", "c=3").returncode == 0
    verified = proc("events", "verify", "--checkpoint", str(checkpoint))
    assert verified.returncode == 0 and "matches the checkpoint" in verified.stdout
    # Rewrite an event and recompute every hash after it: consistent, but not the checkpoint's.
    import hashlib

    from infrastructure.eventchain import GENESIS, hex_id, stored_bytes

    tamper(db_path, "UPDATE {events} SET state = ? WHERE {position} = 2", b"{}")
    digest = GENESIS
    for position, oid, version, topic, state in rows(
            db_path, "SELECT {position}, originator_id, originator_version, topic, state FROM"
            " {events} ORDER BY {position}".format(**tables(db_path))):
        digest = hashlib.sha256(digest + stored_bytes(
            int(position), hex_id(oid), int(version), str(topic), bytes(state))).digest()  # type: ignore[call-overload, arg-type]
        tamper(db_path, "UPDATE event_chain SET hash = ? WHERE notification_id = ?", digest,
               position)
    assert proc("events", "verify").returncode == 0
    done = proc("events", "verify", "--checkpoint", str(checkpoint))
    assert_refused(done, 1, db_path, 6, fragment="at position 5 (checkpoint-mismatch)")


def test_bad_checkpoints_and_flag_mixes_are_usage_errors(proc: ProcRun, history: None,
                                                         db_path: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"position": "five"}')
    assert_refused(proc("events", "verify", "--checkpoint", str(bad)), 2, db_path, 5,
                   fragment="is not a checkpoint")
    assert_refused(proc("events", "verify", "--checkpoint", str(tmp_path / "none.json")), 2,
                   db_path, 5, fragment="cannot read checkpoint")
    assert_refused(proc("events", "verify", "--from", "2", "--checkpoint", str(bad)), 2,
                   db_path, 5, fragment="leave out --from")
    assert_refused(proc("events", "verify", "--from", "0"), 2, db_path, 5)
    assert_refused(proc("events", "verify", "--file", str(bad), "--stack", "app"), 2, db_path,
                   5, fragment="leave out --stack")


def test_an_export_is_verified_without_the_database(proc: ProcRun, history: None,
                                                    db_path: Database, tmp_path: Path) -> None:
    exported = proc("events", "export")
    lines = exported.stdout.splitlines()
    assert all("hash" in json.loads(line) for line in lines)
    export = tmp_path / "export.jsonl"
    export.write_text(exported.stdout)
    elsewhere = {"SLOTH_RUNNER_DB": str(tmp_path / "missing" / "none.db")}
    done = proc("events", "verify", "--file", str(export), env=elsewhere)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("✓ Event log intact: 5 events verified")
    assert not (tmp_path / "missing").exists()
    forged = json.loads(lines[1])
    forged["data"]["value"] = "9"
    export.write_text("\n".join([lines[0], json.dumps(forged), *lines[2:]]) + "\n")
    done = proc("events", "verify", "--file", str(export), env=elsewhere)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: the event chain is broken at position 2 "
                                   "(changed-bytes): the event at position 2 was changed")
    export.write_text("not json\n")
    assert_refused(proc("events", "verify", "--file", str(export)), 2, db_path, 5,
                   fragment="line 1 is not an exported event")


@pytest.mark.sqlite_only(reason="the stored database of an earlier release is a SQLite file")
def test_an_older_database_is_unsealed_until_sealed_once(proc: ProcRun, db_path: Database) -> None:
    from tests.integration.test_database_ownership import load_unmarked_fixture

    load_unmarked_fixture(db_path)
    done = proc("events", "verify")
    assert_refused(done, 1, db_path, 8, fragment="the log is unsealed from position 1")
    assert done.stderr.rstrip().endswith("run 'sloth-runner events seal' to chain them")
    assert proc("events", "checkpoint").returncode == 1
    sealed = proc("events", "seal")
    assert sealed.returncode == 0, sealed.stderr
    assert sealed.stdout.startswith("✓ Sealed the log: 8 events chained, up to position 8; head ")
    assert event_count(db_path) == 9
    assert proc("events", "verify").returncode == 0
    again = proc("events", "seal", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["sealed"] == 0
    assert event_count(db_path) == 9
    listed = proc("events", "list", "--type", "log.sealed", "--json")
    assert json.loads(listed.stdout)["events"][0]["message"].startswith("event log sealed: 8")


def test_an_empty_log_verifies_and_has_no_checkpoint(proc: ProcRun, db_path: Database) -> None:
    done = proc("events", "verify")
    assert done.returncode == 0 and done.stdout.startswith(
        "✓ Event log intact: 0 events verified (no events)")
    assert_refused(proc("events", "checkpoint"), 1, db_path, 0,
                   fragment="the log is empty: there is nothing to checkpoint yet")
    assert json.loads(proc("events", "seal", "--json").stdout)["sealed"] == 0
