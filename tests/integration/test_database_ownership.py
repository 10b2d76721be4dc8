"""Whose database it is: ours are marked; anything else is refused and left byte for byte."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from commands.models import CreateStack
from infrastructure import ownership
from infrastructure.errors import DamagedDatabase, DatabaseUnusable, ForeignDatabase
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from infrastructure.sql import SQLITE
from projections import schema
from projections.queries.stacks import list_stacks
from tests.conftest import event_count, invocation
from tests.fixtures.go_database import GO_TABLES, build_go_database

pytestmark = pytest.mark.sqlite_only(
    reason="SQLite's application_id and files; tests/integration/test_postgres_database.py "
           "holds PostgreSQL's counterparts")

FIXTURES = Path(__file__).parent.parent / "fixtures"

Fingerprint = tuple[str, int, int, tuple[str, ...]]


def fingerprint(path: Path) -> Fingerprint:
    """The file's content hash, modification time and size, and what lies beside it."""
    info = path.stat()
    beside = tuple(sorted(p.name for p in path.parent.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, info.st_size, beside


def open_runtime(path: Path) -> None:
    runtime = Runtime(Settings(db_path=path))
    try:
        runtime.reader()
    finally:
        runtime.close()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as connection:
        return {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}


def header_application_id(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[68:72], "big", signed=True)


def load_unmarked_fixture(path: Path) -> Path:
    """The stored database of an earlier release, before databases were marked."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript((FIXTURES / "unmarked-database-v5.sql").read_text())
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


# ---- ours ---------------------------------------------------------------------------------

def test_a_new_database_carries_the_mark_and_metadata(db_path: Path) -> None:
    open_runtime(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID
    with sqlite3.connect(db_path) as connection:
        meta = dict(connection.execute(f"SELECT key, value FROM {ownership.META_TABLE}"))
    assert meta["application"] == "sloth-runner"
    assert meta["created_by"].startswith("sloth-runner ")
    assert meta["created_at"].endswith("Z")


def test_an_empty_file_becomes_ours(db_path: Path) -> None:
    db_path.touch()
    open_runtime(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID


def test_an_empty_sqlite_database_becomes_ours(db_path: Path) -> None:
    sqlite3.connect(db_path).execute("VACUUM").connection.close()
    assert db_path.stat().st_size > 0
    open_runtime(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID


def test_the_application_id_is_a_fixed_documented_constant() -> None:
    assert ownership.APPLICATION_ID == 0x534C5448  # "SLTH"
    docs = (Path(__file__).parents[2] / "docs" / "en" / "architecture.md").read_text()
    assert "0x534C5448" in docs


def test_a_database_of_an_earlier_release_is_marked_and_keeps_its_data(db_path: Path) -> None:
    load_unmarked_fixture(db_path)
    assert header_application_id(db_path) == 0
    runtime = Runtime(Settings(db_path=db_path))
    try:
        names = [s.name for s in list_stacks(runtime.reader(), include_destroyed=True)]
        assert names == ["db", "web"]
        web = runtime.service().load("web")
        assert web.values == {"replicas": "3", "image": "nginx:1.25"}
    finally:
        runtime.close()
    assert header_application_id(db_path) == ownership.APPLICATION_ID
    assert event_count(db_path) == 8
    with sqlite3.connect(db_path) as connection:
        meta = dict(connection.execute(f"SELECT key, value FROM {ownership.META_TABLE}"))
    assert meta["created_by"] == "an earlier sloth-runner release"
    assert meta["marked_by"].startswith("sloth-runner ")


def test_a_database_whose_mark_was_stripped_is_recognised(db_path: Path) -> None:
    runtime = Runtime(Settings(db_path=db_path))
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    runtime.catch_up()
    runtime.close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA application_id = 0")
        connection.execute(f"DROP TABLE {ownership.META_TABLE}")
    open_runtime(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID
    assert event_count(db_path) == 1


def test_a_first_run_stopped_before_the_read_models_is_recognised(db_path: Path) -> None:
    from infrastructure.eventstore import open_sqlite_store
    from infrastructure.sqlite import DatabaseFile

    # An earlier release created the event store, then stopped before the read models.
    open_sqlite_store(DatabaseFile(db_path, empty=True), create_tables=True).close()
    assert tables(db_path) == {"stored_events", "stored_snapshots"}
    open_runtime(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID
    assert "projection_positions" in tables(db_path)


def test_rebuilding_the_read_models_keeps_the_mark(runtime: Runtime, db_path: Path) -> None:
    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    runtime.projections().rebuild()
    assert ownership.META_TABLE in tables(db_path)
    assert header_application_id(db_path) == ownership.APPLICATION_ID


# ---- not ours -----------------------------------------------------------------------------

@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_the_go_tools_database_is_refused_unchanged(db_path: Path, wal: bool) -> None:
    build_go_database(db_path, wal=wal)
    before = fingerprint(db_path)
    with pytest.raises(ForeignDatabase) as refused:
        open_runtime(db_path)
    message = str(refused.value)
    assert "original Go sloth-runner" in message
    assert f"sloth-runner import go {db_path}" in message
    assert "into a new database" in message
    assert "\n" not in message
    assert fingerprint(db_path) == before
    assert set(GO_TABLES) <= tables(db_path)


def test_an_older_go_database_is_recognised_by_fewer_tables(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("CREATE TABLE stacks (id TEXT PRIMARY KEY, name TEXT UNIQUE)")
        connection.execute("CREATE TABLE state_events (id TEXT PRIMARY KEY, stack_id TEXT)")
    with pytest.raises(ForeignDatabase, match="original Go sloth-runner"):
        open_runtime(db_path)


def test_another_programs_database_is_refused_naming_its_tables(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO invoices VALUES (1, 9.5)")
    before = fingerprint(db_path)
    with pytest.raises(ForeignDatabase, match="not a sloth-runner database") as refused:
        open_runtime(db_path)
    assert "customers, invoices" in str(refused.value)
    assert fingerprint(db_path) == before


def test_a_database_marked_by_another_application_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA application_id = 1196444487")  # GeoPackage, "GPKG"
    before = fingerprint(db_path)
    with pytest.raises(ForeignDatabase, match="0x47504B47"):
        open_runtime(db_path)
    assert fingerprint(db_path) == before


def test_another_event_sourced_application_is_not_taken_for_ours(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version"
                           " INTEGER, topic TEXT, state BLOB)")
        connection.execute("CREATE TABLE stored_snapshots (originator_id TEXT,"
                           " originator_version INTEGER, topic TEXT, state BLOB)")
        connection.execute("CREATE TABLE projection_positions (name TEXT PRIMARY KEY)")
        connection.execute("INSERT INTO stored_events VALUES ('x', 1, 'shop.orders:Order.Created',"
                           " x'00')")
    before = fingerprint(db_path)
    with pytest.raises(ForeignDatabase):
        open_runtime(db_path)
    assert fingerprint(db_path) == before


def test_read_models_are_never_migrated_in_a_database_that_is_not_ours(db_path: Path) -> None:
    build_go_database(db_path)
    connection = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(ForeignDatabase):
            schema.migrate(connection.cursor(), SQLITE)
        with pytest.raises(ForeignDatabase):
            schema.drop_tables(connection.cursor(), schema.STACKS, SQLITE)
    finally:
        connection.close()
    assert set(GO_TABLES) <= tables(db_path)


def test_only_registered_projections_have_tables_dropped(runtime: Runtime) -> None:
    stray = schema.ProjectionSpec(name="stray", version=1, tables=("sqlite_sequence",), ddl=())
    with pytest.raises(ValueError, match="stray"):
        schema.drop_tables(runtime.connection().cursor(), stray, SQLITE)  # type: ignore[attr-defined]


# ---- unusable files -----------------------------------------------------------------------

def test_a_damaged_database_is_refused_with_a_way_to_recover(db_path: Path) -> None:
    open_runtime(db_path)
    data = bytearray(db_path.read_bytes())
    data[100:] = bytes((i * 131 + 7) % 256 for i in range(len(data) - 100))
    db_path.write_bytes(bytes(data))
    before = fingerprint(db_path)
    with pytest.raises(DamagedDatabase) as refused:
        open_runtime(db_path)
    message = str(refused.value)
    assert "malformed" in message
    assert ".recover" in message
    assert "backup" in message
    assert fingerprint(db_path) == before


def test_a_database_of_a_newer_release_is_refused(db_path: Path) -> None:
    open_runtime(db_path)
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    with pytest.raises(DatabaseUnusable, match="newer sloth-runner"):
        open_runtime(db_path)
