"""Measuring helpers shared by the benchmark sections, and the figures they report."""

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
from dataclasses import dataclass, field
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
    """A line on the console that is no figure (a database built, an error seen)."""
    print(f"   {label:<58} {value}")


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of a section's table: what was measured, ours against the baseline measured
    side by side in the same run, the ratio between them, and the aim with whether it is met.

    `ours` and `baseline` are text (see `ms`, `secs`, `us`, `rate`); a baseline names what it
    is (`"typer one-command app: 126 ms"`), or `"same"` for the row above's. `ratio` is ours
    over the baseline, shown as `1.17x`, or a text where a number does not say it
    (`"saves 90 ms"`). `met` is None when there is no aim.
    """

    name: str
    ours: str
    baseline: str | None = None
    ratio: float | str | None = None
    aim: str | None = None
    met: bool | None = None

    def __post_init__(self) -> None:
        if (self.aim is None) != (self.met is None):
            raise ValueError(f"{self.name}: an aim and whether it is met go together")

    def cells(self) -> tuple[str, str, str, str, str]:
        """figure, ours, baseline, ratio, aim, as the table shows them."""
        ratio = (f"{self.ratio:.2f}x" if isinstance(self.ratio, float | int)
                 else self.ratio or NONE)
        aim = NONE if self.aim is None else self.aim + ("" if self.met else " (**not met**)")
        return self.name, self.ours, self.baseline or NONE, ratio, aim


NONE = "—"
"""What an empty cell shows."""


@dataclass
class Measured:
    """What one section reported in a run."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    load: float = 0.0
    """The 1-minute load average when the section started."""


_current: list[Measured] = []


def begin(name: str) -> Measured:
    """Start collecting a section's figures (scripts/bench does this around `run`)."""
    measured = Measured(name, load=os.getloadavg()[0])
    _current[:] = [measured]
    return measured


def figure(row: Figure) -> Figure:
    """Report a figure: printed now, and kept for the section's table."""
    name, ours, baseline, ratio, aim = row.cells()
    print(f"   {name}\n      ours: {ours} | baseline: {baseline} | ratio: {ratio} | aim: {aim}")
    if _current:
        _current[0].figures.append(row)
    return row


def environment(text: str) -> None:
    """Name a backend or tool the section's figures depend on, e.g. `PostgreSQL 15.4`."""
    if _current and text not in _current[0].environment:
        _current[0].environment.append(text)


def ms(seconds: float, digits: int = 0) -> str:
    return f"{seconds * 1000:,.{digits}f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def secs(seconds: float, digits: int = 2) -> str:
    return f"{seconds:,.{digits}f} s"


def rate(per_second: float, unit: str = "/s") -> str:
    """`3,119 /s`; `56,427 events/s` with unit `events/s`."""
    return f"{per_second:,.0f} {unit}"
