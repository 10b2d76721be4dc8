"""Validation: `stack validate all` over 5,000 stacks, as a whole process.

Each stack depends on up to three stacks numbered below it, holds a few state values, and
every tenth declares two file resources. `sloth-runner stack validate all` gathers the
facts of every stack (dependencies, resources, locks), runs the checks, records the 5,000
verdicts in one write, projects them and prints the summary. The baseline is `stack list`
on the same database (start-up, opening the database, reading and printing 5,000 rows),
and the one-command typer app (the floor of any typer CLI); both run in turns with ours.
Every run starts from the database as built (a run records 5,000 more events).
"""

from __future__ import annotations

import random
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    report,
    secs,
    typer_floor_command,
    workdir,
)

STACKS = 5000


def build_database(db: Path, stacks: int, seed: int = 9) -> None:
    """Save the stacks as aggregates in large transactions, then catch the read models up."""
    from domain.resources import Resource
    from domain.stack import Stack
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    rng = random.Random(seed)
    runtime = Runtime(Settings(db_path=db))
    store = runtime.store()
    providers = runtime.providers()
    inv = invocation()
    batch: list[Stack] = []
    for i in range(stacks):
        name = f"stack-{i:05d}"
        stack = Stack.create(name, "bench", inv)
        needs = sorted({rng.randrange(i) for _ in range(rng.randrange(4))}) if i else []
        stack.add_dependencies([f"stack-{j:05d}" for j in needs], inv, paths_back={})
        stack.set_values({"region": "eu-west-1", "replicas": i % 5, "owner": "team"}, inv)
        if i % 10 == 0:
            stack.declare_resources([providers.normalize(Resource(
                name=f"conf-{n}", type="file",
                attributes={"path": f"/srv/{name}/conf-{n}", "content": "x\n"}))
                for n in range(2)], inv)
        batch.append(stack)
        if len(batch) == 500:
            store.save(*batch)
            batch.clear()
    if batch:
        store.save(*batch)
    runtime.catch_up()
    runtime.close()


def validate_all(quick: bool) -> None:
    import os
    import shutil
    import statistics
    import subprocess
    import time

    directory = workdir()
    pristine, db = directory / "pristine.db", directory / "stacks.db"
    started = time.perf_counter()
    build_database(pristine, STACKS)
    built = time.perf_counter() - started
    commands = {
        "validate": [SCRIPT, "--db", str(db), "stack", "validate", "all"],
        "list": [SCRIPT, "--db", str(db), "stack", "list"],
        "floor": typer_floor_command(directory),
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    runs = 3 if quick else 7
    for _ in range(runs):
        # Each run validates the database as built (a run appends 5,000 events).
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(pristine, db)
        for name, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=os.environ, check=False)
            samples[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{name} exited with {done.returncode}: {done.stderr!r}")
    times = {name: statistics.median(values) for name, values in samples.items()}
    report(f"(a) database of {STACKS:,} stacks built in", f"{built:.1f} s")
    validate = times["validate"]
    figure(Figure(f"(a) `stack validate all`, {STACKS:,} stacks, whole process, median of {runs}",
                  secs(validate), f"`stack list` on the same database: {secs(times['list'])}",
                  validate / times["list"], "<= 1.5 s", validate <= 1.5))
    figure(Figure("(a2) same", secs(validate), f"typer one-command app: {secs(times['floor'])}",
                  validate / times["floor"]))


def run(quick: bool = False) -> None:
    validate_all(quick)
