"""Dependencies: `deps order` over 10,000 stacks and 50,000 edges; networkx at start-up.

(a) `stack deps order --all` over 10,000 stacks and 50,000 dependency edges, in-process
    (load the graph from the read models, order it, render) and as a whole process, against
    networkx building the same graph from an edge list in memory and ordering it (with and
    without the cyclic garbage collector, which ours pauses), and against networkx's own
    `topological_generations` on the graph already in memory. Run in turns.
(b) `stack list` start-up as shipped (networkx is imported only by commands that need the
    graph) against the same command in a process that imports networkx first.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    median_wall,
    ms,
    report,
    workdir,
)

STACKS = 10_000
EDGES = 50_000


def random_dag(stacks: int, edges: int, seed: int = 6) -> dict[int, list[int]]:
    """`edges` distinct edges, each from a stack to one numbered below it (so no cycle)."""
    rng = random.Random(seed)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < edges:
        stack = rng.randrange(1, stacks)
        chosen.add((stack, rng.randrange(0, stack)))
    needs: dict[int, list[int]] = defaultdict(list)
    for stack, dependency in sorted(chosen):
        needs[stack].append(dependency)
    return needs


def build_database(db: Path, stacks: int, edges: int) -> dict[int, list[int]]:
    """Save the stacks as aggregates in large transactions, then catch the read models up once."""
    from domain.stack import Stack
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    needs = random_dag(stacks, edges)
    runtime = Runtime(Settings(db_path=db))
    store = runtime.store()
    inv = invocation()
    batch: list[Stack] = []
    for i in range(stacks):
        stack = Stack.create(f"stack-{i:05d}", "", inv)
        stack.add_dependencies([f"stack-{j:05d}" for j in needs[i]], inv, paths_back={})
        batch.append(stack)
        if len(batch) == 1000:
            store.save(*batch)
            batch.clear()
    if batch:
        store.save(*batch)
    runtime.catch_up()
    runtime.close()
    return needs


def in_process_order(db: Path) -> Callable[[], None]:
    """The whole `deps order --all` command, run in this process."""
    from cli.main import app

    def command() -> None:
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            app(["--db", str(db), "stack", "deps", "order", "--all"], standalone_mode=False)
        assert sink.getvalue().startswith(f"Execution order: {STACKS:,}".replace(",", "")), (
            sink.getvalue()[:200])

    command()  # the first run pays for imports
    return command


def networkx_alone(needs: dict[int, list[int]]) -> tuple[
        Callable[[], int], Callable[[], int], Callable[[], int]]:
    """networkx's generations on the graph in memory; building the graph from an in-memory
    edge list plus the generations; the same with the cyclic collector paused."""
    import gc

    import networkx as nx

    names = [f"stack-{i:05d}" for i in range(STACKS)]
    edges = [(names[j], names[i]) for i, dependencies in needs.items() for j in dependencies]

    def build() -> nx.DiGraph[str]:
        graph: nx.DiGraph[str] = nx.DiGraph()
        graph.add_nodes_from(names)
        graph.add_edges_from(edges)
        return graph

    graph = build()

    def alone() -> int:
        return len([sorted(level) for level in nx.topological_generations(graph)])

    def with_build() -> int:
        return len([sorted(level) for level in nx.topological_generations(build())])

    def with_build_paused() -> int:
        gc.disable()
        try:
            return with_build()
        finally:
            gc.enable()

    return alone, with_build, with_build_paused


def medians(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall time of each action, run in turns so all see the same machine."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def order(quick: bool) -> None:
    directory = workdir()
    db = directory / "stacks.db"
    started = time.perf_counter()
    needs = build_database(db, STACKS, EDGES)
    built = time.perf_counter() - started
    runs = 5 if quick else 15
    alone, with_build, with_build_paused = networkx_alone(needs)
    levels = alone()
    times = medians({"ours": in_process_order(db), "alone": alone, "build": with_build,
                     "build paused": with_build_paused}, runs)
    ours = times["ours"]
    process = median_wall({"order": [SCRIPT, "stack", "deps", "order", "--all"]}, runs,
                          env={"SLOTH_RUNNER_DB": str(db)})["order"]
    report(f"(a) database of {STACKS:,} stacks, {EDGES:,} edges built in", f"{built:.1f} s")
    figure(Figure(f"(a) `deps order --all`, {STACKS:,} stacks, {EDGES:,} edges, whole command "
                  "in-process", ms(ours), "networkx building the graph from an in-memory edge "
                  f"list + generations: {ms(times['build'])}", ours / times["build"], "<= 1x",
                  ours <= times["build"]))
    figure(Figure("(a2) same", ms(ours), "that baseline with the cyclic collector paused: "
                  f"{ms(times['build paused'])}", ours / times["build paused"]))
    figure(Figure("(a3) same", ms(ours), "networkx `topological_generations`, graph already "
                  f"in memory ({levels} levels): {ms(times['alone'])}", ours / times["alone"]))
    figure(Figure(f"(a4) `deps order --all`, whole process, median of {runs}", ms(process)))


def startup(quick: bool) -> None:
    from commands.models import CreateStack
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    directory = workdir()
    db = directory / "stacks.db"
    runtime = Runtime(Settings(db_path=db))
    for i in range(100):
        runtime.service().create_stack(CreateStack(stack=f"stack-{i:03d}"), invocation())
    runtime.catch_up()
    runtime.close()
    entry = "import sys; sys.argv = ['sloth-runner', 'stack', 'list']; from cli.main import main; main()"
    runs = 7 if quick else 21
    times = median_wall({
        "list": [sys.executable, "-c", entry],
        "with networkx": [sys.executable, "-c", "import networkx; " + entry],
    }, runs, env={"SLOTH_RUNNER_DB": str(db)})
    probe = ("import atexit, sys; atexit.register(lambda: sys.stderr.write("
             "'networkx imported' if 'networkx' in sys.modules else 'networkx not imported')); ")
    imported = subprocess.run([sys.executable, "-c", probe + entry], capture_output=True,
                              text=True, check=False, env={**os.environ, "SLOTH_RUNNER_DB": str(db)})
    figure(Figure(f"(b) `stack list`, 100 stacks, whole process, median of {runs}",
                  ms(times["list"]), f"the same importing networkx first: "
                  f"{ms(times['with networkx'])}",
                  f"saves {ms(times['with networkx'] - times['list'])}", "networkx not imported",
                  imported.stderr.endswith("networkx not imported")))


def run(quick: bool = False) -> None:
    order(quick)
    startup(quick)
