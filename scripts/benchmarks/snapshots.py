"""Snapshots: create cost, point-in-time load vs history length, `snapshot list`."""

from __future__ import annotations

import random
import statistics
import time

from benchmarks.common import (
    SCRIPT,
    Figure,
    append_history,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
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
    figure(Figure(f"`snapshot create`, in-process write, median of {count}",
                  ms(statistics.median(write), 2)))
    figure(Figure("`snapshot create` + catch-up (state derived by replay into `state_versions`)",
                  ms(statistics.median(total), 2)))


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
    figure(Figure(f"`stack show --at-event`, stack with {long_events:,} events, median of 200 "
                  "random points", ms(long, 2), f"same on a 100-event stack: {ms(short, 2)}",
                  long / short, "<= 2x", long / short <= 2))


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
    runs = 7 if quick else 21
    times = median_wall({"list": [SCRIPT, "stack", "snapshot", "list", "my-stack"],
                         "floor": typer_floor_command(directory)}, runs,
                        env={"SLOTH_RUNNER_DB": str(db)})
    figure(Figure(f"`snapshot list` with 1,000 snapshots, whole process, median of {runs}",
                  ms(times["list"]), f"typer one-command app: {ms(times['floor'])}",
                  times["list"] / times["floor"]))


def run(quick: bool = False) -> None:
    create_cost(quick)
    point_in_time(quick)
    list_startup(quick)
