"""`serve` web pages: load times of `/` with 1,000 stacks and `/events` with 100,000 events.

Each page is timed as a whole response (request sent to last byte read, over loopback, from
a real `sloth-runner serve`), next to the REST API's JSON of the same query as the baseline
(what the page adds is its template). Aim: under 200 ms per page.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.common import (
    SCRIPT,
    Figure,
    figure,
    invocation,
    open_runtime,
    report,
    workdir,
)

AIM_MS = 200


def _database(db: Path, stacks: int, events: int) -> None:
    """`stacks` stacks (one in ten locked, chained by dependencies) and `events` events."""
    from commands.models import AcquireLock, CreateStack
    from domain.names import stack_id

    runtime = open_runtime(db)
    service = runtime.service()
    names = [f"stack-{index:04d}" for index in range(stacks)]
    for index, name in enumerate(names):
        depends = [names[index - 1]] if index % 10 else []
        service.create_stack(CreateStack(stack=name, description=f"bench stack {index}",
                                         depends_on=depends), invocation())
    for name in names[::10]:
        service.acquire_lock(AcquireLock(stack=name, ttl=timedelta(hours=2)),
                             invocation("bench-holder"))
    store = runtime.store()
    written = runtime.event_log().head()
    turn = 0
    while written < events:
        name = names[turn % stacks]
        stack = store.repository.get(stack_id(name))
        inv = invocation("bench-holder" if turn % stacks % 10 == 0 else "bench@host")
        for j in range(min(100, events - written)):
            stack.set_values({f"k{j % 10}": turn * 100 + j}, inv)
        store.save(stack)
        written = runtime.event_log().head()
        turn += 1
    runtime.catch_up()
    runtime.close()


def _serve(db: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import json

    env = {**os.environ, "SLOTH_RUNNER_DB": str(db)}
    made = subprocess.run([SCRIPT, "tokens", "create", "bench", "--json"], env=env,
                          capture_output=True, check=True)
    token = json.loads(made.stdout)["token"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen([SCRIPT, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}", token
        time.sleep(0.05)
    raise RuntimeError("serve did not start")


def _timed(http: object, path: str, runs: int) -> tuple[float, float, int]:
    """Median and worst whole-response time (ms) of a GET, and the response's size."""
    samples = []
    size = 0
    for _ in range(runs + 2):
        started = time.perf_counter()
        answer = http.get(path)  # type: ignore[attr-defined]
        body = answer.content
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
        size = len(body)
    measured = samples[2:]  # the first two warm the worker threads' connections
    return statistics.median(measured), max(measured), size


def run(quick: bool = False) -> None:
    import httpx2

    stacks, events = (200, 20_000) if quick else (1_000, 100_000)
    runs = 10 if quick else 30
    db = workdir() / "stacks.db"
    started = time.perf_counter()
    _database(db, stacks, events)
    report(f"database: {stacks:,} stacks, {events:,} events", f"built in "
           f"{time.perf_counter() - started:.0f} s")
    server, url, token = _serve(db)
    try:
        with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                           timeout=60) as http:
            # (the page and what it shows, its path, the API's JSON of the same, an aim)
            pages = (
                (f"`/`: {stacks:,} stacks with lock and drift badges", "/",
                 "`GET /api/v1/stacks`, the same query as JSON", "/api/v1/stacks", True),
                ("`/?sort=lock&order=desc&q=stack-05` (sorted and filtered)",
                 "/?sort=lock&order=desc&q=stack-05", None, None, True),
                (f"`/events`: the newest 100 of {events:,} events, each with its document",
                 "/events", "`GET /api/v1/events?limit=100`", "/api/v1/events?limit=100", True),
                ("`/events?type=lock.*&actor=bench-holder` (filtered)",
                 "/events?type=lock.*&actor=bench-holder", None, None, True),
                ("`/stacks/NAME`: one stack (lock, values, history)",
                 f"/stacks/stack-{stacks // 2:04d}", None, None, True),
                (f"`/graph`: {stacks:,} stacks drawn as SVG", "/graph", None, None, False),
            )
            for label, path, baseline_label, baseline, aimed in pages:
                median, worst, size = _timed(http, path, runs)
                ours = f"{median:.1f} ms (max {worst:.0f} ms)"
                name = f"{label} ({size / 1024:.0f} KiB), median of {runs}"
                aim, met = (f"< {AIM_MS} ms", median < AIM_MS) if aimed else (None, None)
                if baseline is None:
                    figure(Figure(name, ours, aim=aim, met=met))
                    continue
                floor, _, _ = _timed(http, baseline, runs)
                figure(Figure(name, ours, f"{baseline_label}: {floor:.1f} ms", median / floor,
                              aim, met))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
