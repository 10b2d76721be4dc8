"""Benchmark worker: acquire/release cycles on one stack; prints `cycles failures seconds`.

Run as `_lock_worker.py DATABASE STACK CYCLES`, DATABASE a SQLite file or a PostgreSQL URL.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(db: str, stack: str, cycles: int) -> None:
    from commands.models import AcquireLock, ReleaseLock
    from domain.invocation import Invocation, Source
    from infrastructure.runtime import Runtime
    from infrastructure.settings import database_named, settings_for

    runtime = Runtime(settings_for(database_named(db)))
    service = runtime.service()
    failures = 0
    started = time.perf_counter()
    for _ in range(cycles):
        invocation = Invocation(actor=f"bench-{stack}", source=Source.CLI,
                                correlation_id=str(uuid.uuid4()), at=datetime.now(UTC))
        try:
            service.acquire_lock(AcquireLock(stack=stack, ttl=timedelta(minutes=5)), invocation)
            runtime.catch_up()
            service.release_lock(ReleaseLock(stack=stack), invocation)
            runtime.catch_up()
        except Exception as exc:
            failures += 1
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    print(cycles, failures, time.perf_counter() - started)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
