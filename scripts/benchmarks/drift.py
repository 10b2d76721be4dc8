"""Drift: `drift detect` over 1,000 file resources vs a plain loop that stats and hashes them.

Both sides read the same 1,000 files from the page cache. Ours observes each declared file
(stat, read, compare content and mode with the declaration), appends the report as one
event (durably) and projects it into the read models, as `stack drift detect` does. Measured
for 1 KiB files (typical configuration files: the fixed cost per resource dominates) and for
64 KiB files (reading dominates). The two sides run in turns, so both see the same machine;
CPU time is shown too, since other work on a shared machine moves wall times.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import SCRIPT, Figure, figure, invocation, median_wall, ms, workdir

COUNT = 1000


def median_seconds(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def interleaved(ours: Callable[[], object], baseline: Callable[[], object],
                runs: int) -> tuple[float, float, float, float]:
    """Median wall and CPU seconds of each, run in turns so both see the same machine."""
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(runs):
        for side, action in enumerate((ours, baseline)):
            started, started_cpu = time.perf_counter(), time.process_time()
            action()
            wall[side].append(time.perf_counter() - started)
            cpu[side].append(time.process_time() - started_cpu)
    return (statistics.median(wall[0]), statistics.median(wall[1]),
            statistics.median(cpu[0]), statistics.median(cpu[1]))


def plain_loop(paths: list[str]) -> None:
    for path in paths:
        os.stat(path)
        with open(path, "rb") as handle:
            hashlib.sha256(handle.read()).hexdigest()


def in_process(size: int, runs: int, label: str, fresh: bool) -> Path:
    """Declare COUNT files of `size` bytes, then time detect (+ catch-up) and the plain loop."""
    from commands.models import CreateStack, DeclareResources, DetectDrift
    from domain.resources import Resource
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    directory = workdir()
    files = directory / "files"
    files.mkdir()
    resources, paths = [], []
    for i in range(COUNT):
        path = files / f"f{i:04d}.conf"
        text = (f"# file {i}\n" + "setting = value\n" * (size // 16 + 1))[:size]
        path.write_text(text)
        path.chmod(0o644)
        paths.append(str(path))
        resources.append(Resource(name=f"f{i:04d}", type="file",
                                  attributes={"path": str(path), "content": text, "mode": "0644"}))
    runtime = Runtime(Settings(db_path=directory / "stacks.db"))
    service = runtime.service()
    service.create_stack(CreateStack(stack="bench"), invocation())
    service.declare_resources(DeclareResources(stack="bench", resources=resources), invocation())
    runtime.catch_up()

    def detect() -> None:
        outcome = service.drift.detect(DetectDrift(stack="bench"), invocation())
        # Nothing changes the files: any drift here is a bug (or someone else's doing).
        assert outcome.events == ["drift.checked"], (
            f"unexpected drift: {outcome.detail['report'].out_of_sync[:3]}")
        runtime.catch_up()

    detect()  # warm: the page cache, the aggregate cache
    plain_loop(paths)
    ours, baseline, ours_cpu, baseline_cpu = interleaved(detect, lambda: plain_loop(paths), runs)
    runtime.close()

    def fresh_detect() -> None:
        # What one `drift detect` process does after start-up: nothing is cached yet (the
        # stack is loaded from the store, every spec validated, every declared content hashed).
        fresh = Runtime(Settings(db_path=directory / "stacks.db"))
        fresh.service().drift.detect(DetectDrift(stack="bench"), invocation())
        fresh.catch_up()
        fresh.close()

    ratio = ours / baseline
    figure(Figure(f"({label}) `drift detect`, {COUNT:,} file resources of {size // 1024} KiB, "
                  "in-process (observe, record, project)", ms(ours, 1),
                  f"plain Python loop: stat + read + SHA-256 of the same files: {ms(baseline, 1)}",
                  f"{ratio:.2f}x (CPU time {ours_cpu / baseline_cpu:.2f}x)", "<= 2x", ratio <= 2))
    if fresh:
        fresh_detect()
        cold, cold_baseline, _, _ = interleaved(fresh_detect, lambda: plain_loop(paths),
                                                max(3, runs // 3))
        figure(Figure(f"({label}2) the first check in a fresh runtime (stack loaded, specs "
                      "validated, contents hashed)", ms(cold, 1),
                      f"the same loop: {ms(cold_baseline, 1)}", cold / cold_baseline))
    return directory


def whole_process(directory: Path, runs: int) -> None:
    """The command as a user runs it, against a process that runs the plain loop."""
    loop = directory / "loop.py"
    loop.write_text(
        "import hashlib, os, sys\n"
        f"for name in sorted(os.listdir({str(directory / 'files')!r})):\n"
        f"    path = os.path.join({str(directory / 'files')!r}, name)\n"
        "    os.stat(path)\n"
        "    with open(path, 'rb') as handle:\n"
        "        hashlib.sha256(handle.read()).hexdigest()\n")
    times = median_wall({"detect": [SCRIPT, "stack", "drift", "detect", "bench"],
                         "loop": [sys.executable, str(loop)]}, runs,
                        env={"SLOTH_RUNNER_DB": str(directory / "stacks.db")})
    figure(Figure(f"(c) `sloth-runner stack drift detect`, whole process, median of {runs}",
                  ms(times["detect"]), f"`python loop.py`, whole process: {ms(times['loop'])}",
                  times["detect"] / times["loop"]))


def run(quick: bool = False) -> None:
    runs = 5 if quick else 15
    small = in_process(1024, runs, "a", fresh=True)
    in_process(64 * 1024, runs, "b", fresh=False)
    whole_process(small, 5 if quick else 11)
