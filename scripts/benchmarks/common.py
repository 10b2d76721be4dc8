"""Measuring helpers shared by the benchmark sections."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SCRIPT = str(Path(sys.executable).with_name("sloth-runner"))
HELLO = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")
if __name__ == "__main__":
    app()
'''


def workdir() -> Path:
    """A scratch directory, removed when the benchmark run ends."""
    directory = Path(tempfile.mkdtemp(prefix="sloth-bench-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def invocation(actor: str = "bench@host"):  # type: ignore[no-untyped-def]
    from domain.invocation import Invocation, Source

    return Invocation(actor=actor, source=Source.CLI, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC))


def open_runtime(db: Path):  # type: ignore[no-untyped-def]
    """The product's runtime on a database file (imported late: start-up is measured too)."""
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    return Runtime(Settings(db_path=db))


def raw_wal_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the product's journal settings (WAL), autocommit."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def append_history(runtime, name: str, events: int) -> None:  # type: ignore[no-untyped-def]
    """Create a stack and give it `events` events quickly (100 state changes per write)."""
    from commands.models import CreateStack
    from domain.names import stack_id

    runtime.service().create_stack(CreateStack(stack=name), invocation())
    store = runtime.store()
    written = 1
    while written < events:
        stack = store.repository.get(stack_id(name))
        inv = invocation()
        for j in range(min(100, events - written)):
            stack.set_values({f"k{j % 10}": written + j}, inv)
        store.save(stack)
        written = stack.version


def typer_floor_command(directory: Path) -> list[str]:
    """A one-command typer app in this environment: the floor any typer CLI starts from."""
    hello = directory / "hello.py"
    hello.write_text(HELLO)
    return [sys.executable, str(hello)]


def median_wall(commands: dict[str, list[str]], runs: int, env: dict[str, str] | None = None
                ) -> dict[str, float]:
    """Median wall time of each command, interleaved so both see the same machine state."""
    environment = {**os.environ, **(env or {})}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, check=False)
            samples[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: "
                                   f"{done.stderr.decode(errors='replace')[-500:]}")
    return {name: statistics.median(values) for name, values in samples.items()}


def per_second(action: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        action()
    return count / (time.perf_counter() - started)


def report(label: str, value: str) -> None:
    print(f"   {label:<58} {value}")
