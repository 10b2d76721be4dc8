"""Locks: acquire/release throughput, `lock status` start-up, 8-process contention."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
    per_second,
    rate,
    raw_wal_connection,
    report,
    typer_floor_command,
    workdir,
)

WORKER = str(Path(__file__).with_name("_lock_worker.py"))


def cycles(quick: bool) -> None:
    from commands.models import AcquireLock, CreateStack, ReleaseLock

    count = 200 if quick else 1000
    directory = workdir()
    runtime = open_runtime(directory / "stacks.db")
    service = runtime.service()
    service.create_stack(CreateStack(stack="bench"), invocation())
    acquire = AcquireLock(stack="bench", ttl=timedelta(minutes=5))
    release = ReleaseLock(stack="bench")

    def write_only() -> None:
        inv = invocation()
        service.acquire_lock(acquire, inv)
        service.release_lock(release, inv)

    def with_catch_up() -> None:
        inv = invocation()
        service.acquire_lock(acquire, inv)
        runtime.catch_up()
        service.release_lock(release, inv)
        runtime.catch_up()

    ours = per_second(write_only, count)
    ours_full = per_second(with_catch_up, count)
    runtime.close()

    raw = raw_wal_connection(directory / "raw.db")
    raw.execute("CREATE TABLE locks (stack TEXT PRIMARY KEY, holder TEXT)")

    def raw_cycle() -> None:
        raw.execute("BEGIN")
        raw.execute("INSERT INTO locks VALUES ('bench', 'me')")
        raw.execute("COMMIT")
        raw.execute("BEGIN")
        raw.execute("DELETE FROM locks WHERE stack = 'bench'")
        raw.execute("COMMIT")

    baseline = per_second(raw_cycle, count)
    raw.close()
    figure(Figure("acquire + release cycle, in-process (command side)", rate(ours),
                  f"raw sqlite3, two one-row transactions per cycle: {rate(baseline)}",
                  ours / baseline, ">= 0.25x", ours / baseline >= 0.25))
    figure(Figure("the same with the read-model catch-up after each write", rate(ours_full),
                  "same", ours_full / baseline))


def status_startup(quick: bool) -> None:
    directory = workdir()
    db = directory / "stacks.db"
    env = {"SLOTH_RUNNER_DB": str(db)}
    for command in (["stack", "create", "prod"],
                    ["stack", "lock", "acquire", "prod", "--reason", "bench"]):
        subprocess.run([SCRIPT, *command], env={**os.environ, **env}, check=True,
                       capture_output=True)
    runs = 7 if quick else 21
    times = median_wall({"status": [SCRIPT, "stack", "lock", "status", "prod"],
                         "floor": typer_floor_command(directory)}, runs, env=env)
    ratio = times["status"] / times["floor"]
    figure(Figure(f"`stack lock status`, whole process, median of {runs}", ms(times["status"]),
                  f"typer one-command app: {ms(times['floor'])}", ratio, "<= 1.3x",
                  ratio <= 1.3))


def contention(quick: bool) -> None:
    from commands.models import CreateStack

    per_worker = 25 if quick else 100
    db = workdir() / "stacks.db"
    runtime = open_runtime(db)
    for i in range(8):
        runtime.service().create_stack(CreateStack(stack=f"s{i}"), invocation())
    runtime.catch_up()
    runtime.close()
    started = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, WORKER, str(db), f"s{i}", str(per_worker)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(8)]
    results = [w.communicate(timeout=600) for w in workers]
    elapsed = time.perf_counter() - started
    done = failures = 0
    errors: list[str] = []
    for out, err in results:
        count, failed, _ = out.split()
        done += int(count)
        failures += int(failed)
        errors += [line for line in err.splitlines() if line]
    figure(Figure(f"8 processes, each cycling acquire/release on its own stack ({per_worker} "
                  "cycles each; a cycle is 2 writes and 2 catch-ups)",
                  f"{rate(done / elapsed, 'cycles/s')}, {done} cycles in {elapsed:.1f} s, "
                  f"{failures} failures", aim="0 failures", met=failures == 0))
    for line in errors[:5]:
        report("    error", line)


def run(quick: bool = False) -> None:
    cycles(quick)
    status_startup(quick)
    contention(quick)
