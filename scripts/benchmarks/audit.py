"""Audit: what the event chain costs `state set`, and how fast `events verify` walks a log."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import time
from pathlib import Path

from benchmarks.common import (
    Figure,
    append_history,
    figure,
    invocation,
    open_runtime,
    rate,
    secs,
    workdir,
)


def unchained_runtime(db: Path):  # type: ignore[no-untyped-def]
    """The same build, its event store told not to write links (the recorder's flag)."""
    from infrastructure.eventstore import StackStore, sqlite_environment
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

    class Unchained(Runtime):
        def _open_store(self, *, create_tables):  # type: ignore[no-untyped-def]
            if self._store is None:
                database = self._database
                self._store = StackStore(env=sqlite_environment(
                    database.connection_name(), create_tables=create_tables, chained=False))
                self._store.database = database
            return self._store

    return Unchained(Settings(db_path=db))


def state_set(quick: bool) -> None:
    from commands.models import CreateStack, SetValues

    rounds, per_round = (6, 50) if quick else (30, 50)
    directory = workdir()
    runtimes = {"chained": open_runtime(directory / "chained.db"),
                "unchained": unchained_runtime(directory / "unchained.db")}
    elapsed = dict.fromkeys(runtimes, 0.0)
    counter = iter(range(10**9))
    for runtime in runtimes.values():
        runtime.service().create_stack(CreateStack(stack="bench"), invocation())
    for round_number in range(rounds):  # alternating, so both see the same machine
        order = list(runtimes.items())
        for name, runtime in order[::-1] if round_number % 2 else order:
            service = runtime.service()
            started = time.perf_counter()
            for _ in range(per_round):
                service.set_values(SetValues(stack="bench", values={"k": next(counter)}),
                                   invocation())
            elapsed[name] += time.perf_counter() - started
    for runtime in runtimes.values():
        runtime.close()
    with sqlite3.connect(directory / "chained.db") as connection:
        links = connection.execute("SELECT COUNT(*) FROM event_chain").fetchone()[0]
    assert links == rounds * per_round + 1, links
    count = rounds * per_round
    chained, unchained = count / elapsed["chained"], count / elapsed["unchained"]
    figure(Figure(
        f"(a) `state set` write (command side), in-process, with the event chain, {rounds} "
        f"alternating rounds of {per_round}", rate(chained),
        f"the same build without the chain: {rate(unchained)}", chained / unchained,
        ">= 0.9x", chained / unchained >= 0.9))


def verify(quick: bool) -> None:
    from infrastructure.chaincheck import verify_log

    events = 20_000 if quick else 100_000
    directory = workdir()
    db = directory / "stacks.db"
    runtime = open_runtime(db)
    append_history(runtime, "bench", events)
    started = time.perf_counter()
    found = verify_log(runtime.event_log())
    ours = time.perf_counter() - started
    runtime.close()
    assert found.walk.broken is None and found.walk.checked == events, found

    started = time.perf_counter()
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    digest, rows = bytes(32), 0
    for position, originator_id, version, topic_text, state in connection.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
            " ORDER BY rowid"):
        oid, topic = originator_id.encode(), topic_text.encode()
        digest = hashlib.sha256(
            digest + struct.pack(">QI", position, len(oid)) + oid
            + struct.pack(">QI", version, len(topic)) + topic
            + struct.pack(">I", len(state)) + state).digest()
        rows += 1
    connection.close()
    baseline = time.perf_counter() - started
    assert rows == events
    figure(Figure(
        f"(b) `events verify` over {events:,} events", f"{rate(events / ours, 'events/s')} "
        f"({secs(ours)})", "raw sqlite3: read every row, sha256 chained over the same layout: "
        f"{rate(events / baseline)}", baseline / ours, ">= 100,000 events/s",
        events / ours >= 100_000))


def run(quick: bool = False) -> None:
    state_set(quick)
    verify(quick)
