"""Hooks: delivery throughput (Lua in-process, commands), and what inline delivery costs.

(a) Deliveries per second to a no-op Lua hook through `events process` in-process (reading the
    log, the sandboxed call, recording every outcome with the hook's position), against
    calling the same Lua function in a loop with the same event tables. Aim: >= 20,000/s.
(b) Deliveries per second to a no-op command hook (`true`, the event on stdin), against a plain
    Python loop spawning the same command with the same input. Aim: >= 0.8x.
(c) `stack state set` as a whole process when hooks exist but none wants the event, inline
    delivery on against off (median of interleaved runs). Aim: <= 1.05x. Also the cost of
    the after-write check itself, in-process.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Any

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    median_wall,
    ms,
    open_runtime,
    rate,
    us,
    workdir,
)


def _history(runtime: Any, events: int) -> None:
    """Stack 'app' and `events` state.set events, 100 to a save."""
    from commands.models import CreateStack
    from domain.names import stack_id

    runtime.service().create_stack(CreateStack(stack="app"), invocation())
    store = runtime.store()
    written = 0
    while written < events:
        stack = store.repository.get(stack_id("app"))
        inv = invocation()
        batch = min(100, events - written)
        for index in range(batch):
            stack.set_values({"k": written + index}, inv)
        store.save(stack)
        written += batch
    runtime.catch_up()


def _add(runtime: Any, name: str, action: Any, on: str = "state.set") -> None:
    from commands.hooks import AddHook
    from domain.hooks import HookSpec

    spec = HookSpec.build(on=[on], action=action)
    runtime.hook_service().add(AddHook(name, spec, from_start=True), invocation())
    runtime.catch_up()


def _drain(runtime: Any) -> tuple[int, float]:
    from infrastructure.hooks.processor import Processor

    processor = Processor(runtime, workers=100, queue_size=1000, poll_interval=1.0,
                          log=lambda message: None)
    started = time.perf_counter()
    summary = processor.run(follow=False)
    return summary.delivered, time.perf_counter() - started


def _documents(runtime: Any) -> list[dict[str, Any]]:
    from infrastructure.hooks.definitions import StackNames
    from infrastructure.hooks.delivery import LogEvent
    from projections.queries.stacks import stack_names

    names = StackNames(lambda: stack_names(runtime.connection()))
    return [LogEvent.of(n, names).delivery("noop", 1).document
            for n in runtime.event_log().notifications() if n.topic == "state.set"]


def lua_throughput(quick: bool) -> None:
    from domain.hooks import HookAction
    from infrastructure.lua.convert import to_lua
    from infrastructure.lua.modules import Modules
    from infrastructure.lua.sandbox import Sandbox

    events = 5_000 if quick else 20_000
    directory = workdir()
    script = directory / "noop.lua"
    script.write_text("function noop(event) end\n")
    runtime = open_runtime(directory / "lua.db")
    try:
        _history(runtime, events)
        _add(runtime, "noop", HookAction.lua(str(script), "noop"))
        delivered, elapsed = _drain(runtime)
        documents = _documents(runtime)
    finally:
        runtime.close()
    sandbox = Sandbox(lambda: None)
    Modules(sandbox, values={}, should_stop=lambda: None)
    sandbox.run(script.read_text(), str(script))
    function = sandbox.globals["noop"]
    started = time.perf_counter()
    for document in documents:
        sandbox.call(function, to_lua(sandbox.lua, document))
    bare = len(documents) / (time.perf_counter() - started)
    ours = delivered / elapsed
    figure(Figure(f"(a) no-op Lua hook, {delivered:,} events, `events process` in-process",
                  rate(ours), f"the same Lua calls in a loop: {rate(bare)}", ours / bare,
                  ">= 20,000/s", ours >= 20_000))


def command_throughput(quick: bool) -> None:
    import orjson

    from domain.hooks import HookAction

    events, rounds = (100, 3) if quick else (300, 5)
    directory = workdir()
    runtime = open_runtime(directory / "command.db")
    ours, loop = [], []
    try:
        _history(runtime, events)
        bodies = [orjson.dumps(document) for document in _documents(runtime)]
        for round_number in range(rounds):  # interleaved: both see the same machine
            started = time.perf_counter()
            for body in bodies:
                subprocess.run(["true"], input=body, check=False)
            loop.append(len(bodies) / (time.perf_counter() - started))
            if round_number:
                runtime.hook_service().remove(f"true{round_number - 1}", invocation())
            _add(runtime, f"true{round_number}", HookAction.command(["true"]))
            delivered, elapsed = _drain(runtime)
            ours.append(delivered / elapsed)
    finally:
        runtime.close()
    mine, theirs = statistics.median(ours), statistics.median(loop)
    figure(Figure(f"(b) no-op command hook (`true`), {events} events, median of {rounds}",
                  rate(mine), f"a plain loop spawning `true` with the same input: {rate(theirs)}",
                  mine / theirs, ">= 0.8x", mine / theirs >= 0.8))


def inline_cost(quick: bool) -> None:
    from commands.models import SetValues
    from domain.hooks import HookAction

    runs = 7 if quick else 21
    directory = workdir()
    database = directory / "inline.db"
    runtime = open_runtime(database)
    try:
        _history(runtime, 10)
        _add(runtime, "locks", HookAction.command(["true"]), on="lock.*")
        _add(runtime, "outputs", HookAction.command(["true"]), on="output.*")
        samples = []
        service = runtime.service()
        for index in range(200 if quick else 1000):
            service.set_values(SetValues(stack="app", values={"k": -index}), invocation())
            runtime.catch_up()
            started = time.perf_counter()
            runtime.deliver_to_hooks()
            samples.append(time.perf_counter() - started)
    finally:
        runtime.close()
    on, off = directory / "on.yaml", directory / "off.yaml"
    on.write_text("hooks:\n  inline: true\n")
    off.write_text("hooks:\n  inline: false\n")
    command = [SCRIPT, "--db", str(database), "stack", "state", "set", "app"]
    times = median_wall({"on": [*command[:1], "--config", str(on), *command[1:], "k=on"],
                         "off": [*command[:1], "--config", str(off), *command[1:], "k=off"]},
                        runs)
    ratio = times["on"] / times["off"]
    figure(Figure(f"(c) `state set`, whole process, 2 hooks that do not match, median of {runs}",
                  ms(times["on"]), f"the same with `hooks.inline: false`: {ms(times['off'])}",
                  f"{ratio:.3f}x", "<= 1.05x", ratio <= 1.05))
    figure(Figure(f"(c') the after-write check alone (in-process), median of {len(samples)}",
                  us(statistics.median(samples))))


def run(quick: bool = False) -> None:
    lua_throughput(quick)
    command_throughput(quick)
    inline_cost(quick)
