"""A PostgreSQL database as the read side and the ownership rules see it: our mark, databases
that are not ours, read models rebuilt in place, and text ordered as SQLite orders it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from commands.models import CreateStack
from infrastructure import postgres_ownership
from infrastructure.errors import DatabaseUnusable, ForeignDatabase
from infrastructure.eventstore import open_postgres_store
from infrastructure.postgres_connection import connect
from infrastructure.runtime import Runtime
from infrastructure.sql import POSTGRES
from projections import schema
from projections.queries.stacks import list_stacks
from tests.conftest import invocation, settings
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.encode())


def fetch(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(sql.encode()).fetchall()


def tables(url: str) -> set[str]:
    return {str(name) for (name,) in fetch(
        url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}


def opened(url: str) -> Runtime:
    runtime = Runtime(settings(url))
    runtime.connection()
    return runtime


@pytest.fixture
def runtime_on(postgres_url: str) -> Iterator[Runtime]:
    runtime = opened(postgres_url)
    yield runtime
    runtime.close()


def test_a_new_database_carries_our_mark_and_schema_version(runtime_on: Runtime,
                                                            postgres_url: str) -> None:
    meta = dict(fetch(postgres_url, "SELECT key, value FROM sloth_runner_meta"))
    assert meta["application"] == "sloth-runner"
    assert meta["created_by"].startswith("sloth-runner")
    assert meta["schema_version"] == str(schema.SCHEMA_VERSION)
    assert {"slothrunner_events", "slothrunner_snapshots", "projection_positions",
            "stacks", "state_events"} <= tables(postgres_url)


def test_a_database_with_tables_of_another_program_is_refused_unchanged(
        postgres_url: str) -> None:
    execute(postgres_url, "CREATE TABLE stacks (id int PRIMARY KEY, owner text)",
            "INSERT INTO stacks VALUES (1, 'the other program')")
    with pytest.raises(ForeignDatabase, match=r"its schema public has tables stacks\)"):
        opened(postgres_url)
    assert tables(postgres_url) == {"stacks"}
    assert fetch(postgres_url, "SELECT * FROM stacks") == [(1, "the other program")]


def test_another_event_sourced_application_is_not_taken_for_ours(postgres_url: str) -> None:
    store = open_postgres_store(postgres_url, create_tables=True)
    store.close()
    execute(postgres_url, "INSERT INTO slothrunner_events (originator_id, originator_version,"
                          " topic, state) VALUES (gen_random_uuid(), 1,"
                          " 'shop.orders:Order.Created', '\\x00')")
    with pytest.raises(ForeignDatabase):
        opened(postgres_url)
    assert tables(postgres_url) == {"slothrunner_events", "slothrunner_snapshots"}


def test_an_event_store_an_earlier_release_left_is_marked_and_keeps_its_events(
        postgres_url: str) -> None:
    from commands.service import StackService
    from infrastructure.clock import now

    store = open_postgres_store(postgres_url, create_tables=True)
    StackService(store, clock=now, paths_back=lambda s, d: {}).create_stack(
        CreateStack(stack="kept"), invocation())
    store.close()
    assert tables(postgres_url) == {"slothrunner_events", "slothrunner_snapshots"}
    runtime = opened(postgres_url)
    try:
        assert [s.name for s in list_stacks(runtime.reader(), include_destroyed=True)] == ["kept"]
    finally:
        runtime.close()
    meta = dict(fetch(postgres_url, "SELECT key, value FROM sloth_runner_meta"))
    assert meta["created_by"] == "an earlier sloth-runner release"


def test_read_models_are_never_dropped_in_a_database_without_our_mark(
        postgres_url: str) -> None:
    execute(postgres_url, "CREATE TABLE stacks (id int)")
    connection = connect(postgres_url)
    try:
        with pytest.raises(ForeignDatabase), connection.write_transaction() as cursor:
            schema.migrate(cursor, POSTGRES)
        with pytest.raises(ForeignDatabase), connection.write_transaction() as cursor:
            schema.drop_tables(cursor, schema.STACKS, POSTGRES)
    finally:
        connection.close()
    assert tables(postgres_url) == {"stacks"}


def test_first_runs_racing_mark_the_database_once(postgres_url: str) -> None:
    from tests.integration.test_postgres_store import in_threads

    def first_run(i: int) -> str:
        runtime = opened(postgres_url)
        try:
            return str(postgres_ownership.is_ours(runtime.connection()))
        finally:
            runtime.close()

    assert in_threads(6, first_run) == ["True"] * 6
    assert fetch(postgres_url, "SELECT count(*) FROM sloth_runner_meta"
                               " WHERE key = 'application'") == [(1,)]


def test_a_rebuild_keeps_the_mark_and_the_indexes(runtime_on: Runtime, postgres_url: str) -> None:
    def indexes() -> list[tuple[object, ...]]:
        return sorted(fetch(postgres_url, "SELECT indexname, indexdef FROM pg_indexes"
                                          " WHERE schemaname = 'public'"))

    runtime_on.service().create_stack(CreateStack(stack="app"), invocation())
    runtime_on.catch_up()
    before = indexes()
    assert any(name == "state_events_by_stack" for name, _ in before)
    runtime_on.projections().rebuild()
    assert indexes() == before
    assert postgres_ownership.is_ours(runtime_on.connection())


def test_a_database_of_a_newer_release_is_refused(runtime_on: Runtime,
                                                  postgres_url: str) -> None:
    execute(postgres_url, "UPDATE sloth_runner_meta SET value = '999'"
                          " WHERE key = 'schema_version'")
    with pytest.raises(DatabaseUnusable, match="newer sloth-runner"):
        opened(postgres_url)


def test_names_sort_as_on_sqlite_whatever_the_databases_collation(
        postgres_server: PostgresServer) -> None:
    """Read-model text is compared by code point, as SQLite does, even in a database whose
    default collation is a language's (where 'a' sorts before 'B')."""
    name = f"icu_{postgres_server.port}"
    try:
        postgres_server.execute(f"CREATE DATABASE {name} TEMPLATE template0"
                                " LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
    except psycopg.Error as exc:
        pytest.skip(f"this server has no ICU collations: {exc}")
    url = postgres_server.url(name)
    try:
        assert fetch(url, "SELECT 'a' < 'B'") == [(True,)]  # the database's own collation
        runtime = opened(url)
        try:
            service = runtime.service()
            for stack in ("a-app", "B-app", "Z9", "0-first"):
                service.create_stack(CreateStack(stack=stack), invocation())
            names = [s.name for s in list_stacks(runtime.reader(), include_destroyed=False)]
        finally:
            runtime.close()
        assert names == ["0-first", "B-app", "Z9", "a-app"]
    finally:
        postgres_server.drop_database(name)
