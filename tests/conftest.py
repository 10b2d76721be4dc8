"""Shared fixtures: an isolated environment, the test database, and ways to run the CLI.

Every test that uses the database (through `db_path`, `runtime`, `cli` or `proc`) runs twice:
on a SQLite file (`[sqlite]`) and on a new PostgreSQL database of a throwaway server
(`[postgres]`, marked `postgres`). A test about SQLite files themselves is marked
`sqlite_only` with its reason. `--backend sqlite` or `--backend postgres` runs one of them;
`-m "not postgres"` leaves every PostgreSQL test out.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import freezegun
import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from domain.invocation import Invocation, Source
from infrastructure.runtime import Runtime
from infrastructure.settings import HookSettings, Settings, StackSettings
from tests.support.pg_fixtures import own_postgres_server, postgres_server, postgres_url

__all__ = ["own_postgres_server", "postgres_server", "postgres_url"]

# The connection pool's scheduler measures its waits with the clock a frozen test stops: it
# would never see its own stop request, and its thread would outlive the test.
freezegun.configure(extend_ignore_list=["psycopg_pool"])

pytest_plugins = ("tests.support.unprivileged",)

ACTOR = "tester@test"
SCRIPT = str(Path(sys.executable).with_name("sloth-runner"))
BACKENDS = ("sqlite", "postgres")
DATABASE_FIXTURES = frozenset({"db_path", "runtime", "cli", "proc"})

Database = Path | str
"""The test database: a SQLite file's path, or a PostgreSQL database's URL."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", choices=(*BACKENDS, "both"), default="both",
                     help="Run the database tests on SQLite, on PostgreSQL, or on both.")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that touches the database once per backend."""
    if not DATABASE_FIXTURES & set(metafunc.fixturenames):
        return
    chosen = metafunc.config.getoption("--backend")
    only = metafunc.definition.get_closest_marker("sqlite_only")
    params = [pytest.param(name, id=name,
                           marks=[pytest.mark.postgres] if name == "postgres" else [])
              for name in BACKENDS
              if chosen in ("both", name) and not (only is not None and name == "postgres")]
    if not params:  # --backend postgres, and a test about SQLite files
        reason = only.kwargs.get("reason", "") if only is not None else ""
        params = [pytest.param("sqlite", id="sqlite",
                               marks=[pytest.mark.skip(reason=f"SQLite only: {reason}")])]
    metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgres`: the backend this run of the test uses."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the real user's config, database or identity."""
    for name in list(os.environ):
        if name.startswith("SLOTH_RUNNER_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("SLOTH_RUNNER_ACTOR", ACTOR)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("infrastructure.settings.SYSTEM_DIR", tmp_path / "no-system-dir")


@pytest.fixture
def db_path(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    """The test database: a SQLite file in tmp_path, or a new PostgreSQL database's URL."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return tmp_path / "stacks.db"


def settings(db: Database, *, stacks: StackSettings | None = None,
             hooks: HookSettings | None = None) -> Settings:
    """Settings for the test database, on its backend."""
    if isinstance(db, str):
        return Settings(db_path=Path("unused.db"), database_url=db,
                        stacks=stacks or StackSettings(), hooks=hooks or HookSettings())
    return Settings(db_path=db, stacks=stacks or StackSettings(), hooks=hooks or HookSettings())


def database_of(runtime: Runtime) -> Database:
    """The test database a runtime was opened on."""
    return runtime.settings.database_url or runtime.settings.db_path


def database_args(db: Database) -> list[str]:
    """The global option that names the test database."""
    return ["--database-url", db] if isinstance(db, str) else ["--db", str(db)]


def database_env(db: Database) -> dict[str, str]:
    """The environment variable that names the test database."""
    if isinstance(db, str):
        return {"SLOTH_RUNNER_DATABASE_URL": db}
    return {"SLOTH_RUNNER_DB": str(db)}


CliRun = Callable[..., Result]


@pytest.fixture
def cli(db_path: Database) -> CliRun:
    """Run the CLI in-process against the test database."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, [*database_args(db_path), *args], input=input, env=env)

    return run


ProcRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def proc(db_path: Database) -> ProcRun:
    """Run the installed `sloth-runner` in a real subprocess against the test database."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **database_env(db_path), **(env or {})}
        return subprocess.run([SCRIPT, *args], input=input, capture_output=True, text=True,
                              env=environment, timeout=timeout, check=False)

    return run


@pytest.fixture
def runtime(db_path: Database) -> Iterator[Runtime]:
    rt = Runtime(settings(db_path))
    yield rt
    rt.close()


def invocation(actor: str = ACTOR, lock_id: str | None = None) -> Invocation:
    return Invocation(actor=actor, source=Source.CLI, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC), lock_id=lock_id)


def event_count(db: Database) -> int:
    """How many events the log holds (0 when the database has no event store yet)."""
    if isinstance(db, str):
        return int(_postgres_rows(db, "SELECT COUNT(*) FROM slothrunner_events",
                                  missing=[(0,)])[0][0])
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return int(connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def nothing_stored(db: Database) -> bool:
    """No event is stored: on SQLite, not even the file was created."""
    if isinstance(db, str):
        return event_count(db) == 0
    return not db.exists()


def rows(db: Database, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """The rows of one query (with `?` parameters) on the test database, read directly."""
    if isinstance(db, str):
        return _postgres_rows(db, sql, parameters)
    with sqlite3.connect(db) as connection:
        return connection.execute(sql, parameters).fetchall()


def execute(db: Database, *statements: str) -> None:
    """Run statements on the test database directly, behind the program's back."""
    if isinstance(db, str):
        import psycopg

        with psycopg.connect(db, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement.encode())
        return
    with sqlite3.connect(db) as connection:
        for statement in statements:
            connection.execute(statement)


def _postgres_rows(url: str, sql: str, parameters: tuple[object, ...] = (), *,
                   missing: list[tuple[object, ...]] | None = None) -> list[tuple[object, ...]]:
    """The rows of one query on a PostgreSQL test database (`missing` if the table is not
    there yet)."""
    import psycopg

    from infrastructure.sql import translate

    with psycopg.connect(url, autocommit=True) as connection:
        try:
            return connection.execute(translate(sql).encode(), parameters).fetchall()
        except psycopg.errors.UndefinedTable:
            if missing is None:
                raise
            return missing


def stored_bytes(db: Database) -> bytes:
    """Everything the database holds, as bytes: a SQLite file with its write-ahead log, or
    every row of every table of a PostgreSQL database (binary columns as stored)."""
    if not isinstance(db, str):
        return b"".join(path.read_bytes() for path in sorted(db.parent.glob(f"{db.name}*")))
    import psycopg

    parts: list[bytes] = []
    with psycopg.connect(db, autocommit=True) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'.encode()):
                parts.extend(value if isinstance(value, bytes) else str(value).encode()
                             for value in row)
    return b"\n".join(parts)


World = dict[str, tuple[str, int, bytes, int]]


def world(root: Path) -> World:
    """Everything under root (kind, mode, content, modification time), to prove nothing changed."""
    found: World = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(root))] = ("dir" if path.is_dir() else "file",
                                              info.st_mode, content, info.st_mtime_ns)
    return found


def read_model_dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every read-model row, sorted, for comparing two ways of building them."""
    from projections.schema import PROJECTIONS

    tables = [table for spec in PROJECTIONS for table in spec.tables]
    dump: dict[str, list[tuple[object, ...]]] = {}
    if isinstance(db, str):
        for table in tables:
            dump[table] = sorted(_postgres_rows(db, f"SELECT * FROM {table}"), key=repr)
        return dump
    with sqlite3.connect(db) as connection:
        for table in tables:
            rows = connection.execute(f"SELECT * FROM {table}").fetchall()
            dump[table] = sorted(rows, key=repr)
    return dump
