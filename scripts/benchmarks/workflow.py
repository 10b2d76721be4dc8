"""Workflows: engine overhead per task, sandboxed Lua interpreter + file load, hook cost.

(a) Engine overhead per task: 200 independent tasks whose runner does nothing (the scheduler,
    thread pool and results alone), then the same tasks as empty Lua functions (each attempt
    creates a sandboxed interpreter and loads the file again), one at a time and 4 at once.
    Aim: <= 2 ms per empty Lua task.
(b) Creating a sandboxed interpreter and loading a file: a 3-task file and a 200-task file,
    against creating a bare lupa LuaRuntime.
(c) The deadline hook's cost on pure Lua code: a 10,000,000-step loop in the sandbox against
    the same loop in a bare LuaRuntime.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import Figure, figure, ms, us, workdir

TASKS = 200


def _tasks_file(directory: Path, count: int) -> Path:
    path = directory / f"tasks-{count}.sloth"
    lines = [f'local t{i} = task("t{i}"):command(function() return true end)' for i in range(count)]
    names = ", ".join(f"t{i}" for i in range(count))
    lines.append(f'workflow.define("bench"):tasks({{ {names} }})')
    path.write_text("\n".join(lines) + "\n")
    return path


def _median(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def engine_overhead(quick: bool) -> None:
    from commands.workflow_engine import AttemptOutcome, WorkflowEngine
    from domain.workflow import TaskSpec, WorkflowSpec
    from infrastructure.lua.host import MemoryHost
    from infrastructure.lua.loader import load_workflow

    runs = 3 if quick else 7
    spec = WorkflowSpec(name="bench", tasks=tuple(TaskSpec(name=f"t{i}") for i in range(TASKS)))

    def nothing(task: TaskSpec, context: object) -> AttemptOutcome:
        return AttemptOutcome(ok=True)

    loaded = load_workflow(_tasks_file(workdir(), TASKS))
    small = load_workflow(_small_file(workdir()))
    host = MemoryHost()
    for parallel in (1, 4):
        bare = _median(lambda p=parallel: WorkflowEngine(spec, nothing, default_parallel=p).run(),
                       runs) / TASKS
        lua_small = _median(lambda p=parallel: WorkflowEngine(
            spec, _one_task_runner(small, host), default_parallel=p).run(), runs) / TASKS
        lua_big = _median(lambda p=parallel: WorkflowEngine(
            loaded.spec, loaded.runner(host), default_parallel=p).run(), runs) / TASKS
        label = "(a)" if parallel == 1 else "(a')"
        figure(Figure(f"{label} engine overhead per empty Lua task, "
                      f"{parallel} at a time (a "
                      f"1-task file / a {TASKS}-task file, reloaded per task)",
                      f"{ms(lua_small, 2)} / {ms(lua_big, 2)}",
                      f"the scheduler alone: {ms(bare, 2)}", aim="<= 2 ms",
                      met=lua_small <= 0.002))


def _small_file(directory: Path) -> Path:
    path = directory / "one.sloth"
    path.write_text('workflow.define("bench"):tasks({ task("t0"):command(function() '
                    "return true end) })\n")
    return path


def _one_task_runner(loaded: object, host: object) -> Callable[..., object]:
    """Every task runs the one task of a one-task file: the cost of the runner, not the file."""
    from infrastructure.lua.loader import LoadedWorkflow

    assert isinstance(loaded, LoadedWorkflow)
    runner = loaded.runner(host)  # type: ignore[arg-type]
    only = loaded.spec.tasks[0]
    return lambda task, context: runner(only, context)


def interpreter_cost(quick: bool) -> None:
    from lupa.lua54 import LuaRuntime

    from infrastructure.lua.loader import load_workflow

    runs = 200 if quick else 1000
    directory = workdir()
    example = Path(__file__).resolve().parents[2] / "examples" / "stack-state" / (
        "basic-locking.sloth")
    small = load_workflow(example, values={"workdir": str(directory)})
    big = load_workflow(_tasks_file(directory, TASKS))
    bare = _median(lambda: LuaRuntime(unpack_returned_tuples=True), runs)

    def session(loaded: object) -> Callable[[], object]:
        return lambda: loaded.session(lambda: None, None, lambda level, text: None)  # type: ignore[attr-defined]

    three = _median(session(small), runs)
    many = _median(session(big), runs // 10)
    figure(Figure("(b) a sandboxed interpreter with the modules and the DSL, loading a 3-task "
                  "file", us(three), f"a bare `LuaRuntime()`: {us(bare)}", three / bare))
    figure(Figure(f"(b') the same with a {TASKS}-task file", us(many), "same", many / bare))


def hook_cost(quick: bool) -> None:
    from lupa.lua54 import LuaRuntime

    from infrastructure.lua.sandbox import Sandbox

    loop = "local s = 0 for i = 1, 10000000 do s = s + i end"
    runs = 3 if quick else 5
    bare_runtime = LuaRuntime()
    sandbox = Sandbox(lambda: None)
    bare = _median(lambda: bare_runtime.execute(loop), runs)
    hooked = _median(lambda: sandbox.run(loop, "loop"), runs)
    figure(Figure("(c) a 10,000,000-step Lua loop in the sandbox (deadline hook)", ms(hooked),
                  f"bare `LuaRuntime`: {ms(bare)}", hooked / bare))


def run(quick: bool = False) -> None:
    engine_overhead(quick)
    interpreter_cost(quick)
    hook_cost(quick)
