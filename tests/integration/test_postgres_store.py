"""The event store on a real PostgreSQL server: saving, loading, conflicts, the notification log
in commit order, and what a user sees when the server cannot be used."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, redirect_stderr
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from eventsourcing.persistence import RecordConflictError

from commands.models import CreateStack, SetValues
from commands.service import StackService
from domain.errors import StackAlreadyExists
from domain.names import stack_id
from domain.stack import Stack
from infrastructure.clock import now
from infrastructure.errors import DatabaseUnavailable, DatabaseUnusable
from infrastructure.eventstore import SNAPSHOT_INTERVAL, StackStore, open_postgres_store
from infrastructure.providers import ProviderRegistry
from tests.conftest import invocation
from tests.support.postgres import PASSWORD, PostgresServer, free_port

pytestmark = pytest.mark.postgres

T = TypeVar("T")


def service_for(store: StackStore) -> StackService:
    """The write side as the runtime builds it (dependency paths are the read side's job)."""
    return StackService(store, clock=now, paths_back=lambda stack, dependencies: {},
                        providers=ProviderRegistry())


@pytest.fixture
def stores(postgres_url: str) -> Iterator[Callable[..., StackStore]]:
    """Open event stores on the test database (the first creates the tables); all closed after."""
    opened: list[StackStore] = []

    def open_store(url: str = postgres_url, *, create_tables: bool = False) -> StackStore:
        store = open_postgres_store(url, create_tables=create_tables or not opened)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def in_threads(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run work(i) in `count` threads released together; each result or exception."""
    barrier = threading.Barrier(count)
    results: list[T | BaseException] = [RuntimeError("did not finish")] * count

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = work(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def table_names(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


# ---- saving and loading -------------------------------------------------------------------------


def test_opening_creates_the_event_and_snapshot_tables(
        stores: Callable[..., StackStore], postgres_url: str) -> None:
    assert table_names(postgres_url) == set()
    stores()
    assert table_names(postgres_url) == {"slothrunner_events", "slothrunner_snapshots",
                                         "event_chain"}


def test_stacks_saved_through_the_service_load_in_another_store(
        stores: Callable[..., StackStore]) -> None:
    writer = service_for(stores())
    writer.create_stack(CreateStack(stack="app", description="the app"), invocation())
    outcome = writer.set_values(SetValues(stack="app", values={"region": "eu", "replicas": 3}),
                                invocation())
    reader = service_for(stores())
    stack = reader.load("app")
    assert (stack.description, stack.values, stack.version) == (
        "the app", {"region": "eu", "replicas": 3}, outcome.version)
    assert outcome.events == ["state.set", "state.set"]
    assert reader.load("app", version=1).values == {}


def test_library_snapshots_are_stored_and_used(stores: Callable[..., StackStore]) -> None:
    service = service_for(stores())
    service.create_stack(CreateStack(stack="long"), invocation())
    for i in range(SNAPSHOT_INTERVAL + 5):
        service.set_values(SetValues(stack="long", values={"i": i}), invocation())
    fresh = stores()
    assert fresh.snapshots is not None
    assert [s.originator_version for s in fresh.snapshots.get(stack_id("long"))] == [
        SNAPSHOT_INTERVAL]
    assert service_for(fresh).load("long").values == {"i": SNAPSHOT_INTERVAL + 4}


def test_the_process_environment_cannot_redirect_the_store(
        stores: Callable[..., StackStore], monkeypatch: pytest.MonkeyPatch) -> None:
    # eventsourcing reads its settings from os.environ too, prefixed keys first
    monkeypatch.setenv("SLOTHRUNNER_POSTGRES_DBNAME", "somewhere_else")
    monkeypatch.setenv("POSTGRES_SCHEMA", "not_ours")
    monkeypatch.setenv("SLOTHRUNNER_PERSISTENCE_MODULE", "eventsourcing.popo")
    store = stores()
    service_for(store).create_stack(CreateStack(stack="app"), invocation())
    assert type(store.recorder).__name__ == "StackApplicationRecorder"
    assert store.recorder.max_notification_id() == 1


# ---- conflicts ----------------------------------------------------------------------------------


def test_two_creations_of_one_stack_conflict_in_the_store(
        stores: Callable[..., StackStore]) -> None:
    first, second = stores(), stores()
    first.save(Stack.create("twin", "", invocation("a@x")))
    with pytest.raises(RecordConflictError):
        second.save(Stack.create("twin", "", invocation("b@x")))
    assert [e.actor for e in first.events.get(stack_id("twin"))] == ["a@x"]


def test_a_create_that_loses_the_race_retries_and_reports_it_exists(
        stores: Callable[..., StackStore]) -> None:
    store, rival = stores(), service_for(stores())
    original_save = store.save
    calls: list[int] = []

    def save_after_rival(*objects: Any, **kwargs: Any) -> Any:
        if not calls:
            rival.create_stack(CreateStack(stack="contested"), invocation("rival@x"))
        calls.append(1)
        return original_save(*objects, **kwargs)

    store.save = save_after_rival  # type: ignore[method-assign]
    with pytest.raises(StackAlreadyExists):
        service_for(store).create_stack(CreateStack(stack="contested"), invocation())
    assert len(calls) == 1
    assert [e.actor for e in store.events.get(stack_id("contested"))] == ["rival@x"]


def test_eight_connections_creating_one_stack_have_exactly_one_winner(
        stores: Callable[..., StackStore]) -> None:
    services = [service_for(stores()) for _ in range(8)]
    results = in_threads(8, lambda i: services[i].create_stack(
        CreateStack(stack="contested"), invocation(f"racer-{i}@x")))
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StackAlreadyExists) for r in results if r not in winners), results
    events = list(services[0].store.events.get(stack_id("contested")))
    assert len(events) == 1


def test_first_runs_racing_to_create_the_tables_all_succeed(postgres_url: str) -> None:
    with ExitStack() as cleanup:
        def first_run(i: int) -> int:
            store = open_postgres_store(postgres_url, create_tables=True)
            cleanup.callback(store.close)
            return service_for(store).create_stack(CreateStack(stack=f"s{i}"),
                                                   invocation()).version

        results = in_threads(8, first_run)
        assert results == [1] * 8
    assert table_names(postgres_url) == {"slothrunner_events", "slothrunner_snapshots",
                                         "event_chain"}


# ---- the notification log -----------------------------------------------------------------------


def test_notifications_page_through_the_log_in_order(stores: Callable[..., StackStore]) -> None:
    store = stores()
    service = service_for(store)
    for name in ("a", "b", "c"):
        service.create_stack(CreateStack(stack=name), invocation())
        service.set_values(SetValues(stack=name, values={"k": name}), invocation())
    recorder = store.recorder
    everything = recorder.select_notifications(start=1, limit=100)
    assert [n.id for n in everything] == [1, 2, 3, 4, 5, 6]
    assert recorder.max_notification_id() == 6
    assert [n.topic for n in everything[:2]] == ["stack.created", "state.set"]
    assert [n.originator_id for n in everything[::2]] == [stack_id(s) for s in "abc"]
    pages = [recorder.select_notifications(start=start, limit=4) for start in (1, 5)]
    assert [n.id for page in pages for n in page] == [1, 2, 3, 4, 5, 6]
    after = recorder.select_notifications(start=2, limit=100, inclusive_of_start=False)
    assert [n.id for n in after] == [3, 4, 5, 6]
    created = recorder.select_notifications(start=1, limit=100, topics=["stack.created"])
    assert [n.id for n in created] == [1, 3, 5]
    decoded = store.mapper.to_domain_event(everything[1])
    assert (decoded.key, decoded.value) == ("k", "a")  # type: ignore[attr-defined]


def test_an_event_committed_late_is_never_skipped(
        stores: Callable[..., StackStore], postgres_server: PostgresServer,
        postgres_url: str) -> None:
    """A writer that inserted but has not committed holds back every later writer.

    So notification ids are handed out in commit order, and a reader that resumes after the
    highest id it has seen cannot pass over an event that commits later with a lower id.
    """
    slow_store, fast_store, reader = stores(), stores(), stores().recorder
    service_for(slow_store).create_stack(CreateStack(stack="first"), invocation())
    inserted, release = threading.Event(), threading.Event()
    slow_recorder: Any = slow_store.recorder
    fetch_ids = slow_recorder._fetch_ids_after_insert_events

    def pause_before_commit(*args: Any, **kwargs: Any) -> Any:
        inserted.set()
        assert release.wait(timeout=60)
        return fetch_ids(*args, **kwargs)

    slow_recorder._fetch_ids_after_insert_events = pause_before_commit
    slow = threading.Thread(target=service_for(slow_store).create_stack,
                            args=(CreateStack(stack="late"), invocation()))
    fast = threading.Thread(target=service_for(fast_store).create_stack,
                            args=(CreateStack(stack="early"), invocation()))
    slow.start()
    try:
        assert inserted.wait(timeout=60)
        fast.start()
        wait_for_a_lock_wait(postgres_url.rsplit("/", 1)[1], postgres_server)
        seen = list(reader.select_notifications(start=1, limit=100))
        assert [n.id for n in seen] == [1]
        assert reader.max_notification_id() == 1
    finally:
        release.set()
        slow.join(timeout=60)
        fast.join(timeout=60)
    seen += reader.select_notifications(start=seen[-1].id, limit=100, inclusive_of_start=False)
    log = reader.select_notifications(start=1, limit=100)
    assert [n.id for n in seen] == [n.id for n in log] == [1, 2, 3]
    assert [n.originator_id for n in log] == [stack_id(s) for s in ("first", "late", "early")]


def wait_for_a_lock_wait(database: str, server: PostgresServer, timeout: float = 30) -> None:
    """Block until a session of `database` waits for a lock (the table lock of an insert)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(server.url(), autocommit=True) as admin:
        while time.monotonic() < deadline:
            waiting = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND wait_event_type = 'Lock'", [database]).fetchone()
            if waiting and waiting[0] > 0:
                return
            time.sleep(0.02)
    pytest.fail("the second writer never waited for the first one's table lock")


# ---- passwords ----------------------------------------------------------------------------------


def test_the_password_can_come_from_pgpassword(
        stores: Callable[..., StackStore], postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    store = stores(postgres_url.replace(f":{PASSWORD}@", "@"), create_tables=True)
    service_for(store).create_stack(CreateStack(stack="app"), invocation())


def test_the_password_can_come_from_the_password_file(
        stores: Callable[..., StackStore], postgres_server: PostgresServer,
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    password_file = Path(os.environ["HOME"]) / ".pgpass"
    password_file.write_text(f"{postgres_server.host}:{postgres_server.port}:*:sloth:{PASSWORD}\n")
    password_file.chmod(0o600)
    store = stores(postgres_url.replace(f":{PASSWORD}@", "@"), create_tables=True)
    service_for(store).create_stack(CreateStack(stack="app"), invocation())


# ---- a server that cannot be used ---------------------------------------------------------------


def reported(exc: BaseException) -> tuple[int, str]:
    """The exit code and stderr the CLI gives for this error."""
    from cli.errors import report

    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = report(exc)
    return int(code), stderr.getvalue()


def test_no_server_on_the_port_is_unavailable_at_once() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as raised:
        open_postgres_store(f"postgresql://sloth:hunter2@127.0.0.1:{port}/stacks",
                            create_tables=True)
    assert time.monotonic() - started < 3
    code, stderr = reported(raised.value)
    assert code == 75
    assert stderr == (f"error: cannot reach PostgreSQL at 127.0.0.1:{port}/stacks:"
                      " Connection refused\n")


def test_an_unknown_host_is_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable, match=r"at db\.invalid:5432/stacks: failed to resolve"):
        open_postgres_store("postgresql://sloth:hunter2@db.invalid/stacks", create_tables=True)


def test_a_wrong_password_is_a_configuration_error(postgres_server: PostgresServer,
                                                   postgres_url: str) -> None:
    url = postgres_url.replace(f":{PASSWORD}@", ":hunter2@")
    with pytest.raises(DatabaseUnusable) as raised:
        open_postgres_store(url, create_tables=True)
    code, stderr = reported(raised.value)
    assert code == 2
    where = f"127.0.0.1:{postgres_server.port}/{postgres_url.rsplit('/', 1)[1]}"
    assert stderr == (f"error: cannot use PostgreSQL at {where} as user 'sloth': password"
                      ' authentication failed for user "sloth"\n')


def test_a_missing_password_is_a_configuration_error(postgres_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(DatabaseUnusable, match="no password supplied"):
        open_postgres_store(postgres_url.replace(f":{PASSWORD}@", "@"), create_tables=True)


def test_a_missing_database_is_a_configuration_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(DatabaseUnusable, match='database "nowhere" does not exist'):
        open_postgres_store(postgres_server.url("nowhere"), create_tables=True)


def test_an_unknown_connection_parameter_is_a_settings_error(postgres_url: str) -> None:
    from infrastructure.errors import SettingsError

    with pytest.raises(SettingsError, match='invalid connection option "colour"'):
        open_postgres_store(postgres_url + "?colour=blue", create_tables=True)


def test_a_connection_the_server_dropped_is_replaced_without_failing(
        stores: Callable[..., StackStore], postgres_server: PostgresServer,
        postgres_url: str) -> None:
    service = service_for(stores())
    service.create_stack(CreateStack(stack="app"), invocation())
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            [postgres_url.rsplit("/", 1)[1]]).fetchone()
    assert dropped is not None and dropped[0] >= 1
    assert service.set_values(SetValues(stack="app", values={"k": 1}), invocation()).version == 2


@pytest.mark.slow
def test_a_server_that_goes_away_mid_session_is_unavailable(
        own_postgres_server: PostgresServer) -> None:
    server = own_postgres_server
    database = server.create_database()
    url = server.url(database) + "?connect_timeout=2"
    store = open_postgres_store(url, create_tables=True)
    try:
        service = service_for(store)
        service.create_stack(CreateStack(stack="app"), invocation())
        server.stop()
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as raised:
            service.set_values(SetValues(stack="app", values={"k": 1}), invocation())
        assert time.monotonic() - started < 10
    finally:
        store.close()
    code, stderr = reported(raised.value)
    assert code == 75
    assert stderr == (f"error: cannot reach PostgreSQL at 127.0.0.1:{server.port}/{database}:"
                      " Connection refused\n")
    assert PASSWORD not in stderr
    server.start()
    again = open_postgres_store(url, create_tables=False)
    try:
        assert service_for(again).load("app").version == 1  # nothing was half-written
    finally:
        again.close()


# ---- a database that answers but refuses the work -----------------------------------------------


def test_a_database_without_the_tables_is_unusable_not_an_internal_error(
        postgres_url: str) -> None:
    store = open_postgres_store(postgres_url, create_tables=False)
    try:
        with pytest.raises(DatabaseUnusable, match=r'relation ".*" does not exist') as raised:
            service_for(store).load("app")
    finally:
        store.close()
    assert reported(raised.value)[0] == 2


def test_a_role_that_may_only_read_and_append_needs_no_ddl_but_update_for_the_lock(
        postgres_server: PostgresServer, postgres_url: str) -> None:
    """Tables created by an administrator; the program runs as a role that cannot create them.

    Appending takes the events table's EXCLUSIVE lock, which PostgreSQL grants only to roles
    with UPDATE, DELETE or TRUNCATE on the table: INSERT alone is refused, with exit 2.
    """
    database = postgres_url.rsplit("/", 1)[1]
    admin = open_postgres_store(postgres_url, create_tables=True)
    service_for(admin).create_stack(CreateStack(stack="app"), invocation())
    admin.close()
    role = f"app_{database}"

    def as_admin(*statements: str) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement.encode())

    as_admin(f"CREATE ROLE {role} LOGIN PASSWORD 'app-secret'",
             f"GRANT SELECT, INSERT ON slothrunner_events, slothrunner_snapshots, event_chain"
             f" TO {role}",
             f"GRANT USAGE ON SEQUENCE slothrunner_events_notification_id_seq TO {role}")
    try:
        store = open_postgres_store(postgres_server.url(database, user=role,
                                                        password="app-secret"),
                                    create_tables=True)
        try:
            service = service_for(store)
            assert service.load("app").version == 1
            with pytest.raises(DatabaseUnusable,
                               match="permission denied for table slothrunner_events") as raised:
                service.set_values(SetValues(stack="app", values={"k": 1}), invocation())
            assert reported(raised.value)[0] == 2
            as_admin(f"GRANT UPDATE ON slothrunner_events TO {role}")
            assert service.set_values(SetValues(stack="app", values={"k": 1}),
                                      invocation()).version == 2
        finally:
            store.close()
    finally:
        as_admin(f"DROP OWNED BY {role}")
        with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
            connection.execute(f"DROP ROLE {role}".encode())
