"""Snapshots: create cost, point-in-time load vs history length, `snapshot list`."""

from __future__ import annotations

import random
import statistics
import time

from benchmarks.common import (
    SCRIPT,
    append_history,
    invocation,
    median_wall,
    open_runtime,
    report,
    typer_floor_command,
    workdir,
)


def create_cost(quick: bool) -> None:
    from commands.models import CreateSnapshot, CreateStack, SetValues

    runtime = open_runtime(workdir() / "stacks.db")
    service = runtime.service()
    service.create_stack(CreateStack(stack="bench"), invocation())
    for i in range(50):
        service.set_values(SetValues(stack="bench", values={f"k{i}": i}), invocation())
    runtime.catch_up()
    count = 100 if quick else 500
    write, total = [], []
    for _ in range(count):
        started = time.perf_counter()
        service.create_snapshot(CreateSnapshot(stack="bench", description="bench"), invocation())
        written = time.perf_counter()
        runtime.catch_up()  # derives the version's state by replay into state_versions
        write.append(written - started)
        total.append(time.perf_counter() - started)
    runtime.close()
    report("snapshot create, in-process (write), median", f"{statistics.median(write)*1000:.2f} ms")
    report("snapshot create + catch-up (replay into state_versions)",
           f"{statistics.median(total)*1000:.2f} ms")


def point_in_time(quick: bool) -> None:
    from projections.timetravel import stack_as_of

    long_events = 20_000 if quick else 100_000
    runtime = open_runtime(workdir() / "stacks.db")
    store = runtime.store()
    for name, events in (("short", 100), ("long", long_events)):
        append_history(runtime, name, events)
    runtime.catch_up()
    connection = runtime.connection()
    rng = random.Random(1)

    def median_load(name: str) -> float:
        ids = [row[0] for row in connection.execute(
            "SELECT id FROM state_events WHERE stack_name = ?", (name,))]
        samples = []
        for _ in range(200):
            event_id = rng.choice(ids)
            started = time.perf_counter()
            stack_as_of(store, connection, name, event_id=event_id)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    short, long = median_load("short"), median_load("long")
    runtime.close()
    report("`stack show --at-event`, 100-event stack, median", f"{short*1000:.2f} ms")
    report(f"`stack show --at-event`, {long_events:,}-event stack, median", f"{long*1000:.2f} ms")
    report("    ratio long / short (aim <= 2x)", f"{long / short:.2f}x")


def list_startup(quick: bool) -> None:
    from commands.models import CreateSnapshot, CreateStack

    directory = workdir()
    db = directory / "stacks.db"
    runtime = open_runtime(db)
    service = runtime.service()
    service.create_stack(CreateStack(stack="my-stack"), invocation())
    for i in range(1000):
        service.create_snapshot(CreateSnapshot(stack="my-stack", description=f"snapshot {i}"),
                                invocation())
    runtime.catch_up()
    runtime.close()
    times = median_wall({"list": [SCRIPT, "stack", "snapshot", "list", "my-stack"],
                         "floor": typer_floor_command(directory)}, 7 if quick else 21,
                        env={"SLOTH_RUNNER_DB": str(db)})
    report("`snapshot list`, 1,000 snapshots, whole process, median", f"{times['list']*1000:.0f} ms")
    report("typer one-command app, median", f"{times['floor']*1000:.0f} ms")
    report("    ratio", f"{times['list'] / times['floor']:.2f}x")


def run(quick: bool = False) -> None:
    create_cost(quick)
    point_in_time(quick)
    list_startup(quick)
