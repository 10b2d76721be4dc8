"""Sealing a log stored before the event chain existed: chain its events, once, and record it.

The seal is planned first (reading and hashing every event), then written in one
transaction that chains every event, checks that the planned part still hashes the same,
and appends `log.sealed` with what was chained.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.audit_log import AuditLog, audit_log_id
from domain.errors import CheckFailed, Conflict
from domain.invocation import Invocation
from infrastructure.eventchain import ChainRecorder, SealMismatch


@dataclass(frozen=True)
class Sealed:
    """What a seal did: nothing (`events == 0`), or chained `events` up to `position`."""

    events: int
    position: int = 0
    head: str = ""


class LogSealer:
    """Seals the log of one event store."""

    def __init__(self, store: Application[UUID], chain: ChainRecorder) -> None:
        self.store = store
        self.chain = chain

    def seal(self, invocation: Invocation) -> Sealed:
        plan = self.chain.plan_seal()
        if plan is None:
            return Sealed(0)
        try:
            earlier: AuditLog = self.store.repository.get(audit_log_id())
        except AggregateNotFoundError:
            pass
        else:
            raise CheckFailed(
                f"the log was sealed before (up to position {earlier.position}) and its chain "
                "is gone since: it was tampered with; restore the database from a backup "
                "and check it against a checkpoint")
        record = AuditLog.seal(plan.position, plan.events, plan.head.hex(), invocation)
        try:
            self.store.save(record, seal=plan)
        except SealMismatch as exc:
            raise Conflict(f"the log changed while it was being sealed ({exc}); try again"
                           ) from None
        except IntegrityError:
            raise Conflict("the log was sealed by another command at the same time") from None
        return Sealed(plan.events, plan.position, plan.head.hex())
