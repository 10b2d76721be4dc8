"""A worker process for the contention tests: acquire/release cycles on one stack."""

from __future__ import annotations

import sys
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands.models import AcquireLock, ReleaseLock
from domain.invocation import Invocation, Source
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings


def main(db: str, stack: str, cycles: int) -> int:
    runtime = Runtime(Settings(db_path=Path(db)))
    service = runtime.service()
    failures = 0
    for _ in range(cycles):
        invocation = Invocation(actor=f"worker-{stack}", source=Source.CLI,
                                correlation_id=str(uuid.uuid4()), at=datetime.now(UTC))
        try:
            service.acquire_lock(AcquireLock(stack=stack, ttl=timedelta(minutes=5)), invocation)
            runtime.catch_up()
            service.release_lock(ReleaseLock(stack=stack), invocation)
            runtime.catch_up()
        except Exception:
            failures += 1
            traceback.print_exc()
    runtime.close()
    print(failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
