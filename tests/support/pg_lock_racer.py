"""One racer of the PostgreSQL lock race: a process with its own connection, many rounds.

Run as `python -m tests.support.pg_lock_racer URL STACK NAME`. It prints `{"ready": true}` once
its store is open, then for each line `acquire ROUND` on stdin tries once to take the stack's
lock through StackService and prints the outcome as one JSON line. End of input ends it.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta
from typing import Any


def main(url: str, stack: str, name: str) -> None:
    from commands.models import AcquireLock
    from commands.service import StackService
    from domain.invocation import Invocation, Source
    from domain.locks import StackLocked
    from infrastructure.clock import now
    from infrastructure.eventstore import open_postgres_store

    store = open_postgres_store(url, create_tables=False)
    service = StackService(store, clock=now, paths_back=lambda stack, dependencies: {})
    service.load(stack)  # connected, and the stack in the cache, before the first round
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        round_number = int(line.split()[1])
        actor = f"{name}-round-{round_number}"
        invocation = Invocation(actor=actor, source=Source.CLI,
                                correlation_id=str(uuid.uuid4()), at=now())
        result: dict[str, Any] = {"round": round_number, "actor": actor}
        try:
            outcome = service.acquire_lock(
                AcquireLock(stack=stack, ttl=timedelta(minutes=10)), invocation)
        except StackLocked as refused:
            result.update(won=False, holder=refused.lock.locked_by)
        except Exception as exc:
            result.update(error=f"{type(exc).__name__}: {exc}")
        else:
            lock = outcome.detail["lock"]
            result.update(won=True, lock_id=lock.lock_id, generation=lock.generation)
        print(json.dumps(result), flush=True)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
