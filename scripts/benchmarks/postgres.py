"""PostgreSQL: writes, lock contention, `stack list` start-up and `db copy`, on a throwaway server.

The server is the tests' (tests/support/postgres.py: `initdb` into a temporary directory,
fsync off), started for this section and deleted after it; every figure and its baseline
run against it side by side.

(a) `state set` (command side), in-process, against raw psycopg one-row insert transactions.
    Aim >= 0.3x.
(b) 8 processes, each cycling acquire/release (with catch-up) on its own stack, each with its
    own connections: cycles/s, and 0 failures.
(c) `stack list` with 1,000 stacks, whole process, against the one-command typer app.
    Aim <= 1.4x.
(d) `db copy` of 100,000 events, SQLite to PostgreSQL and back (verified, read models
    rebuilt): events/s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    append_history,
    environment,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
    per_second,
    rate,
    report,
    secs,
    typer_floor_command,
    workdir,
)

WORKER = str(Path(__file__).with_name("_lock_worker.py"))


def postgres_runtime(url: str):  # type: ignore[no-untyped-def]
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Database, settings_for

    return Runtime(settings_for(Database(url=url)))


def state_set(server, quick: bool) -> None:  # type: ignore[no-untyped-def]
    """Rounds of each, taken in turn (the machine is shared: its speed drifts within a run);
    the median round of each is reported."""
    import statistics

    import psycopg

    from commands.models import CreateStack, SetValues

    count, rounds = (100, 3) if quick else (400, 7)
    runtime = postgres_runtime(server.url(server.create_database("bench")))
    service = runtime.service()
    service.create_stack(CreateStack(stack="bench"), invocation())
    counter = iter(range(10**9))

    def write_only() -> None:
        service.set_values(SetValues(stack="bench", values={"k": next(counter)}), invocation())

    def whole_command() -> None:
        write_only()
        runtime.catch_up()

    keys = iter(range(10**9))
    raw = psycopg.connect(server.url(server.create_database("raw")), autocommit=True)
    version = raw.execute("SHOW server_version").fetchone()
    environment(f"PostgreSQL {str(version[0]).split()[0] if version else '?'}")
    raw.execute("CREATE TABLE t (k bigint PRIMARY KEY, v text)")

    def one_row() -> None:
        with raw.transaction():
            raw.execute("INSERT INTO t VALUES (%s, %s)", (next(keys), "value"))

    rates: dict[str, list[float]] = {"raw": [], "write": [], "whole": []}
    for _ in range(rounds):
        rates["raw"].append(per_second(one_row, count))
        rates["write"].append(per_second(write_only, count))
        rates["whole"].append(per_second(whole_command, count))
    runtime.close()
    raw.close()
    baseline, ours_write, ours = (statistics.median(rates[k]) for k in ("raw", "write", "whole"))
    figure(Figure(f"(a) `state set` write (command side), in-process, median of {rounds} rounds",
                  rate(ours_write), "raw psycopg one-row insert transactions (`BEGIN`, `INSERT`, "
                  f"`COMMIT`): {rate(baseline)}", ours_write / baseline, ">= 0.3x",
                  ours_write / baseline >= 0.3))
    figure(Figure("(a') `state set` write + read-model catch-up (what the CLI does)", rate(ours),
                  "same", ours / baseline))


def contention(server, quick: bool) -> None:  # type: ignore[no-untyped-def]
    from commands.models import CreateStack

    per_worker = 25 if quick else 100
    url = server.url(server.create_database("locks"))
    runtime = postgres_runtime(url)
    for i in range(8):
        runtime.service().create_stack(CreateStack(stack=f"s{i}"), invocation())
    runtime.catch_up()
    runtime.close()
    started = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, WORKER, url, f"s{i}", str(per_worker)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(8)]
    results = [w.communicate(timeout=900) for w in workers]
    elapsed = time.perf_counter() - started
    done = failures = 0
    errors: list[str] = []
    for out, err in results:
        count, failed, _ = out.split()
        done += int(count)
        failures += int(failed)
        errors += [line for line in err.splitlines() if line]
    figure(Figure("(b) 8 processes, each cycling acquire/release with catch-up on its own stack "
                  f"({per_worker} cycles each)",
                  f"{rate(done / elapsed, 'cycles/s')}, {done} cycles in {elapsed:.1f} s, "
                  f"{failures} failures", aim="0 failures", met=failures == 0))
    for line in errors[:5]:
        report("    error", line)


def listing(server, quick: bool) -> None:  # type: ignore[no-untyped-def]
    from commands.models import CreateStack

    url = server.url(server.create_database("list"))
    runtime = postgres_runtime(url)
    service = runtime.service()
    for i in range(1000):
        service.create_stack(CreateStack(stack=f"stack-{i:04d}", description="bench"),
                             invocation())
    runtime.catch_up()
    runtime.close()
    runs = 7 if quick else 21
    times = median_wall({"list": [SCRIPT, "stack", "list"],
                         "floor": typer_floor_command(workdir())}, runs,
                        env={"SLOTH_RUNNER_DATABASE_URL": url})
    ratio = times["list"] / times["floor"]
    figure(Figure(f"(c) `stack list` with 1,000 stacks, whole process, median of {runs}",
                  ms(times["list"]), f"typer one-command app: {ms(times['floor'])}", ratio,
                  "<= 1.4x", ratio <= 1.4))
    driver = median_wall({"import": [sys.executable, "-c", "import psycopg"],
                          "none": [sys.executable, "-c", "pass"]}, runs)
    figure(Figure(f"(c') importing psycopg alone, whole process, median of {runs}",
                  f"{ms(driver['import'] - driver['none'])} over a bare `python -c pass`"))


def copy(server, quick: bool) -> None:  # type: ignore[no-untyped-def]
    events = 10_000 if quick else 100_000
    directory = workdir()
    source = directory / "source.db"
    runtime = open_runtime(source)
    for i in range(events // 1000):
        append_history(runtime, f"stack-{i:03d}", 1000)
    runtime.close()
    url = server.url(server.create_database("copy"))
    environment = {**os.environ, "SLOTH_RUNNER_DB": str(source)}
    for label, command in (
            ("SQLite to PostgreSQL", [SCRIPT, "db", "copy", "--to", url, "--json"]),
            ("PostgreSQL to SQLite", [SCRIPT, "db", "copy", "--from", url, "--to",
                                      str(directory / "back.db"), "--json"])):
        started = time.perf_counter()
        done = subprocess.run(command, env=environment, capture_output=True, text=True,
                              check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"db copy exited with {done.returncode}: {done.stderr[-500:]}")
        copy_seconds = json.loads(done.stdout)["copy_seconds"]
        figure(Figure(f"(d) `db copy` of {events:,} events, {label}: copied and verified",
                      f"{rate(events / copy_seconds, 'events/s')} ({secs(copy_seconds, 1)})"))
        figure(Figure("(d') the same, whole command (the target's read models rebuilt too)",
                      f"{rate(events / elapsed, 'events/s')} ({secs(elapsed, 1)})"))


def run(quick: bool = False) -> None:
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        state_set(server, quick)
        contention(server, quick)
        listing(server, quick)
        copy(server, quick)
    finally:
        server.destroy()
