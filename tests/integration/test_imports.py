"""Imports below the CLI: read models rebuilt from zero, the Go tool's files left as they were."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.go_import import plan_go_import
from commands.importing import Importer, read_pulumi, read_tfstate
from domain.invocation import Invocation, Source
from infrastructure.errors import DatabaseUnusable
from infrastructure.go_database import read_go_database
from infrastructure.runtime import Runtime
from tests.conftest import read_model_dump
from tests.fixtures.go_database import PRODUCTION, build_go_database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def importing(actor: str = "alice") -> Invocation:
    return Invocation(actor=actor, source=Source.IMPORT, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC))


def import_go(runtime: Runtime, path: Path) -> list[str]:
    database = read_go_database(path)
    plan = plan_go_import(database.tables, file=str(path), providers=runtime.providers(),
                          lock_ttl=runtime.settings.stacks.lock_timeout, at=datetime.now(UTC))
    report = Importer(runtime.service()).import_go(plan, importing())
    return [stack.result for stack in report.stacks]


def test_rebuilding_the_read_models_equals_keeping_them_up(runtime: Runtime, db_path: Path,
                                                           tmp_path: Path) -> None:
    assert import_go(runtime, build_go_database(tmp_path / "go.db")) == ["imported"] * 3
    importer = Importer(runtime.service(), runtime.documents())
    tfstate = FIXTURES / "network.tfstate.json"
    importer.import_tfstate("network", read_tfstate(tfstate.read_bytes(), str(tfstate)),
                            importing())
    pulumi = FIXTURES / "pulumi-export.json"
    importer.import_pulumi("web-dev", read_pulumi(pulumi.read_bytes(), str(pulumi)),
                           importing(), providers=runtime.providers())
    runtime.catch_up()
    incremental = read_model_dump(db_path)
    assert len(incremental["state_versions"]) == 37 + 2 + 1
    assert any(row[-2] is not None for row in incremental["state_events"])  # original times
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental


def test_a_go_database_a_writer_has_open_is_read_through_its_log_and_left_alone(
        runtime: Runtime, tmp_path: Path) -> None:
    path = build_go_database(tmp_path / "go.db", wal=True)
    writer = sqlite3.connect(path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        with writer:
            writer.execute("INSERT INTO stacks (id, name, status) VALUES ('w1', 'late', "
                           "'created')")
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (path, Path(f"{path}-wal"))}
        assert import_go(runtime, path) == ["imported"] * 3 + ["imported"]
        assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in (path, Path(f"{path}-wal"))} == files
    finally:
        writer.close()
    assert runtime.service().load("late").description == ""


def test_the_go_tools_other_column_names_are_read_too(runtime: Runtime, tmp_path: Path) -> None:
    """Releases of the Go tool named some columns differently (state_snapshot, who, ...)."""
    path = build_go_database(tmp_path / "go.db")
    with sqlite3.connect(path) as connection:
        for table, old, new in (("state_versions", "state_data", "state_snapshot"),
                                ("state_versions", "created_by", "creator"),
                                ("state_locks", "locked_by", "who"),
                                ("state_locks", "locked_at", "created_at"),
                                ("state_events", "created_at", "timestamp"),
                                ("state_activity", "description", "details")):
            connection.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
        connection.execute("ALTER TABLE stacks ADD COLUMN configuration TEXT")
        connection.execute("UPDATE stacks SET configuration = '{\"region\": \"eu\"}'"
                           " WHERE id = ?", (PRODUCTION,))
    assert import_go(runtime, path) == ["imported"] * 3
    stack = runtime.service().load("production-app")
    assert stack.values["configuration"] == {"region": "eu"}
    assert stack.lock is not None and stack.lock.locked_by == "ops@bastion"
    assert stack.versions[37].creator == "ops@bastion"


def test_other_tables_are_listed_not_read(tmp_path: Path) -> None:
    path = build_go_database(tmp_path / "go.db")
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE stack_tags (stack_id TEXT, tag TEXT)")
        connection.execute("INSERT INTO stack_tags VALUES (?, 'prod')", (PRODUCTION,))
    database = read_go_database(path)
    assert database.others == {"stack_tags": 1}
    assert len(database.tables["state_versions"]) == 39


def test_an_older_go_database_with_fewer_tables_is_read(runtime: Runtime,
                                                        tmp_path: Path) -> None:
    path = build_go_database(tmp_path / "go.db")
    with sqlite3.connect(path) as connection:
        for table in ("state_locks", "state_versions", "state_events", "state_activity",
                      "drift_detections", "resources"):
            connection.execute(f"DROP TABLE {table}")
    database = read_go_database(path)
    assert database.present == ("stacks", "stack_executions")
    assert import_go(runtime, path) == ["imported"] * 3


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path = build_go_database(tmp_path / "go.db")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseUnusable):
        read_go_database(path)


def test_import_events_as_first_stored_still_load(runtime: Runtime, db_path: Path) -> None:
    """Events an import stored (a Go stack and a Pulumi export), read back: each topic as its
    own class, the stack as it was imported, and read models that rebuild the same."""
    from domain.names import stack_id
    from projections.queries import events, stacks
    from tests.integration.test_event_store import STACK_EVENT_TYPES, load_fixture

    stored = load_fixture("events-imports-v1.jsonl")
    store = runtime.store()
    store.recorder.insert_events(stored)
    for record in stored:
        assert type(store.mapper.to_domain_event(record)) is STACK_EVENT_TYPES[record.topic]
    legacy = runtime.service().load("legacy")
    assert sorted(legacy.versions) == [1, 4] and legacy.imports
    assert legacy.versions[4].created_at == datetime(2024, 1, 20, tzinfo=UTC)
    assert legacy.lock is not None and legacy.lock.acquired_by_actor == "ops@old"
    assert runtime.service().load("web-dev").outputs["dbPassword"] == "<secret>"
    first = legacy.versions[1].position
    assert store.repository.get(stack_id("legacy"), version=first).values == {"a": 1}
    connection = runtime.reader()
    shown = stacks.find_stack(connection, "legacy")
    assert shown is not None
    assert (shown.created_at, shown.execution_count, shown.last_duration_ms, shown.status) == (
        "2024-01-02T03:04:05.000000Z", 5, 2500, "failed")
    (line,) = events.list_events(connection, events.EventFilter(type_pattern="history.*"))
    assert (line.timestamp, line.actor, line.message) == (
        "2024-02-01T00:00:01.000000Z", "ops", "imported deploy: deployed")
    incremental = read_model_dump(db_path)
    runtime.projections().rebuild()
    assert read_model_dump(db_path) == incremental


def test_the_go_database_is_opened_read_only(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    opened: list[str] = []
    connect = sqlite3.connect

    def spy(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        opened.append(database)
        return connect(database, *args, **kwargs)  # type: ignore[arg-type]

    path = build_go_database(tmp_path / "go.db")
    monkeypatch.setattr(sqlite3, "connect", spy)
    read_go_database(path)
    assert opened and all("mode=ro" in uri and "immutable=1" in uri for uri in opened)
