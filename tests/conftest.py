"""Shared fixtures: an isolated environment, a database file, and ways to run the CLI."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from domain.invocation import Invocation, Source
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings

pytest_plugins = ("tests.support.unprivileged",)

ACTOR = "tester@test"
SCRIPT = str(Path(sys.executable).with_name("sloth-runner"))


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
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "stacks.db"


CliRun = Callable[..., Result]


@pytest.fixture
def cli(db_path: Path) -> CliRun:
    """Run the CLI in-process against the test database."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["--db", str(db_path), *args], input=input, env=env)

    return run


ProcRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def proc(db_path: Path) -> ProcRun:
    """Run the installed `sloth-runner` in a real subprocess against the test database."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "SLOTH_RUNNER_DB": str(db_path), **(env or {})}
        return subprocess.run([SCRIPT, *args], input=input, capture_output=True, text=True,
                              env=environment, timeout=timeout, check=False)

    return run


@pytest.fixture
def runtime(db_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings(db_path=db_path))
    yield rt
    rt.close()


def invocation(actor: str = ACTOR, lock_id: str | None = None) -> Invocation:
    return Invocation(actor=actor, source=Source.CLI, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC), lock_id=lock_id)


def event_count(db_path: Path) -> int:
    """How many events the log holds (0 when the database does not exist yet)."""
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path) as connection:
        try:
            return int(connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


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


def read_model_dump(db_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every read-model row, sorted, for comparing two ways of building them."""
    from projections.schema import PROJECTIONS

    dump: dict[str, list[tuple[object, ...]]] = {}
    with sqlite3.connect(db_path) as connection:
        for spec in PROJECTIONS:
            for table in spec.tables:
                rows = connection.execute(f"SELECT * FROM {table}").fetchall()
                dump[table] = sorted(rows, key=repr)
    return dump
