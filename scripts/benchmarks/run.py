"""Running workflows: a whole `run` against the typer floor; `stack list` with executions.

(a) `sloth-runner run` of a 5-task workflow (each task one `state.set`) with require_lock and
    create_snapshot, whole process, median, against the one-command typer app. Aim <= 1.6x
    (the original Go tool reported 71 ms for a 5-task run).
(b) `stack list` with 1,000 stacks that have 10 executions each, whole process, median,
    against the typer app. Aim <= 1.3x.
"""

from __future__ import annotations

from datetime import timedelta

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
    typer_floor_command,
    workdir,
)

FIVE_TASKS = """\
local tasks = {}
for i = 1, 5 do
    tasks[i] = task("step" .. i):command(function()
        state.set("step" .. i, i)
        return true, "done"
    end):build()
end
workflow.define("five", { tasks = tasks,
    config = { require_lock = true, create_snapshot = true } })
"""


def whole_run(quick: bool) -> None:
    from commands.models import CreateStack

    directory = workdir()
    db = directory / "run.db"
    runtime = open_runtime(db)
    runtime.service().create_stack(CreateStack(stack="bench"), invocation())
    runtime.catch_up()
    runtime.close()
    workflow = directory / "five.sloth"
    workflow.write_text(FIVE_TASKS)
    runs = 5 if quick else 21
    times = median_wall({
        "run": [SCRIPT, "--db", str(db), "run", "--file", str(workflow), "--stack", "bench"],
        "typer": typer_floor_command(directory),
    }, runs=runs)
    ratio = times["run"] / times["typer"]
    figure(Figure("(a) `run` of a 5-task workflow (each task one `state.set`), `require_lock` and "
                  f"`create_snapshot`, whole process, median of {runs}", ms(times["run"]),
                  f"typer one-command app: {ms(times['typer'])}", ratio, "<= 1.6x", ratio <= 1.6))


def listing(quick: bool) -> None:
    from commands.models import CreateStack

    stacks = 100 if quick else 1000
    directory = workdir()
    db = directory / "list.db"
    runtime = open_runtime(db)
    service = runtime.service()
    inv = invocation()
    for number in range(stacks):
        name = f"stack-{number:04d}"
        service.create_stack(CreateStack(stack=name), inv)
        for run in range(10):
            execution = f"{number:04d}-{run:02d}"
            service.start_execution(name, inv, execution_id=execution, workflow="w",
                                    lease=timedelta(minutes=5), tasks=["a"])
            service.finish_execution(name, execution, inv, succeeded=True, duration_ms=71)
    runtime.catch_up()
    runtime.close()
    directory_floor = typer_floor_command(directory)
    runs = 5 if quick else 21
    times = median_wall({"list": [SCRIPT, "--db", str(db), "stack", "list"],
                         "typer": directory_floor}, runs=runs)
    ratio = times["list"] / times["typer"]
    figure(Figure(f"(b) `stack list`, {stacks:,} stacks with 10 executions each, whole process, "
                  f"median of {runs}", ms(times["list"]),
                  f"typer one-command app: {ms(times['typer'])}", ratio, "<= 1.3x", ratio <= 1.3))


def run(quick: bool = False) -> None:
    whole_run(quick)
    listing(quick)
