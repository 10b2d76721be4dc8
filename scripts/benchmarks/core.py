"""Core: start-up of `stack list`, state-set throughput, projection rebuild.

`--large` also rebuilds a log of a million events (it takes minutes to write).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    append_history,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
    per_second,
    rate,
    raw_wal_connection,
    secs,
    typer_floor_command,
    workdir,
)


def startup(quick: bool) -> None:
    from commands.models import CreateStack

    directory = workdir()
    db = directory / "stacks.db"
    runtime = open_runtime(db)
    service = runtime.service()
    for i in range(1000):
        service.create_stack(CreateStack(stack=f"stack-{i:04d}", description="bench"), invocation())
    runtime.catch_up()
    runtime.close()
    runs = 7 if quick else 21
    times = median_wall({"list": [SCRIPT, "stack", "list"],
                         "floor": typer_floor_command(directory)}, runs,
                        env={"SLOTH_RUNNER_DB": str(db)})
    ratio = times["list"] / times["floor"]
    figure(Figure(f"(a) `stack list` with 1,000 stacks, whole process, median of {runs}",
                  ms(times["list"]), f"typer one-command app: {ms(times['floor'])}", ratio,
                  "<= 1.3x", ratio <= 1.3))


def state_set(quick: bool) -> None:
    from commands.models import CreateStack, SetValues

    count = 300 if quick else 2000
    directory = workdir()
    runtime = open_runtime(directory / "stacks.db")
    service = runtime.service()
    service.create_stack(CreateStack(stack="bench"), invocation())
    counter = iter(range(10**9))

    def write_only() -> None:
        # The command side: validate, load, decide, append (durably).
        service.set_values(SetValues(stack="bench", values={"k": next(counter)}), invocation())

    def whole_command() -> None:
        # What `stack state set` does in-process: the write, then the read models catch up.
        write_only()
        runtime.catch_up()

    ours_write = per_second(write_only, count)
    ours = per_second(whole_command, count)
    runtime.close()

    raw = raw_wal_connection(directory / "raw.db")
    raw.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    keys = iter(range(10**9))

    def one_row() -> None:
        raw.execute("BEGIN")
        raw.execute("INSERT INTO t VALUES (?, ?)", (next(keys), "value"))
        raw.execute("COMMIT")

    baseline = per_second(one_row, count * 2)
    raw.close()
    figure(Figure("(b) `state set` write (command side), in-process", rate(ours_write),
                  f"raw sqlite3 one-row transactions: {rate(baseline)}", ours_write / baseline,
                  ">= 0.3x", ours_write / baseline >= 0.3))
    figure(Figure("(b') `state set` write + read-model catch-up (what the CLI does)",
                  rate(ours), "same", ours / baseline))


def raw_read_insert(db: Path) -> float:
    """Read every stored event and insert one row per event into a table, in one
    transaction, with plain sqlite3: the floor any rebuild of read models stands on."""
    connection = raw_wal_connection(db)
    connection.execute("DROP TABLE IF EXISTS raw_copy")
    connection.execute("CREATE TABLE raw_copy (id INTEGER PRIMARY KEY, stack_id TEXT,"
                       " version INTEGER, topic TEXT, data BLOB)")
    started = time.perf_counter()
    connection.execute("BEGIN")
    rows = connection.execute("SELECT rowid, originator_id, originator_version, topic, state"
                              " FROM stored_events ORDER BY rowid")
    connection.executemany("INSERT INTO raw_copy VALUES (?, ?, ?, ?, ?)", rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.execute("DROP TABLE raw_copy")
    connection.close()
    return elapsed


def rebuild(quick: bool, total: int | None = None) -> None:
    large = total is not None
    total = total or (10_000 if quick else 100_000)
    db = workdir() / "stacks.db"
    runtime = open_runtime(db)
    stacks = 100
    for i in range(stacks):
        append_history(runtime, f"s{i}", total // stacks)
    runtime.projections().rebuild()  # warm: the page cache, imports
    started = time.perf_counter()
    count = runtime.projections().rebuild()
    elapsed = time.perf_counter() - started
    runtime.close()
    raw = min(raw_read_insert(db) for _ in range(3))
    ours = f"{rate(count / elapsed, 'events/s')} ({secs(elapsed)})"
    if large:
        figure(Figure(f"(c') the same over {count:,} events", ours,
                      f"same: {rate(count / raw, 'events/s')}", raw / elapsed,
                      "< 60 s", elapsed < 60))
        return
    figure(Figure(f"(c) `projections rebuild` over {count:,} events (7 projections)", ours,
                  "raw sqlite3, read every stored event and insert a row each, one transaction: "
                  f"{rate(count / raw, 'events/s')}", raw / elapsed,
                  ">= 50,000 events/s", count / elapsed >= 50_000))


def run(quick: bool = False, large: bool = False) -> None:
    startup(quick)
    state_set(quick)
    rebuild(quick)
    if large:
        rebuild(quick, total=1_000_000)
