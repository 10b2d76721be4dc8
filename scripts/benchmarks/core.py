"""Core: start-up of `stack list`, state-set throughput, projection rebuild.

`--large` also rebuilds a log of a million events (it takes minutes to write).
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    append_history,
    invocation,
    median_wall,
    open_runtime,
    per_second,
    raw_wal_connection,
    report,
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
    report("(a) `stack list`, 1,000 stacks, median wall", f"{times['list'] * 1000:.0f} ms")
    report("    typer one-command app, median wall", f"{times['floor'] * 1000:.0f} ms")
    report("    ratio list / floor (aim <= 1.3x)", f"{times['list'] / times['floor']:.2f}x")


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
    report("(b) raw sqlite3 one-row transactions/s (same disk, WAL)", f"{baseline:,.0f}")
    report("    `state set` write (command side), commands/s", f"{ours_write:,.0f}")
    report("    ratio write / raw (aim >= 0.3x)", f"{ours_write / baseline:.2f}x")
    report("    `state set` write + read-model catch-up, commands/s", f"{ours:,.0f}")
    report("    ratio write+catch-up / raw", f"{ours / baseline:.2f}x")


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
    report(f"(c) `projections rebuild` over {count:,} events (7 projections)", f"{elapsed:.2f} s")
    report("    events/s (aim >= 50,000)", f"{count / elapsed:,.0f}")
    report("    raw sqlite3: read every event, insert a row each, 1 transaction",
           f"{count / raw:,.0f} events/s")
    report("    ratio rebuild / raw", f"{raw / elapsed:.2f}x")


def run(quick: bool = False, large: bool = False) -> None:
    startup(quick)
    state_set(quick)
    rebuild(quick)
    if large:
        rebuild(quick, total=1_000_000)
