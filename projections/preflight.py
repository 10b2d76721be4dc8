"""The facts `stack validate` checks, gathered from the read models."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from domain.invocation import Invocation
from domain.locks import LockInfo
from domain.resources import Resource
from domain.timestamps import from_text
from domain.validation import LockFacts, StackFacts
from projections.graph import DependencyGraph
from projections.queries import locks, resources, stacks


@dataclass(frozen=True)
class Caller:
    """Who validates, and what the checks know about the environment they run in."""

    invocation: Invocation
    config_path: str | None
    config_problem: str | None
    resource_problem: Callable[[Resource], str | None] = lambda resource: None
    """Why a declared resource is not valid for its type now (None when it is)."""
    observe_drift: Callable[[str], tuple[str, ...]] | None = None
    """With --check-drift: what is out of sync in a stack, observed now."""


def gather_facts(connection: sqlite3.Connection, graph: DependencyGraph,
                 stack: stacks.StackDetail, caller: Caller) -> StackFacts:
    """What the checks need to know about one stack."""
    closure = graph.closure([stack.name])
    declared = [Resource(name=r.name, type=r.type, attributes=r.desired,
                         depends_on=tuple(r.dependencies))
                for r in resources.list_resources(connection, stack.id)]
    problems = [problem for problem in map(caller.resource_problem, declared) if problem]
    observing = caller.observe_drift is not None and stack.status != "destroyed"
    return StackFacts(
        resources_declared=len(declared),
        resource_problems=tuple(problems),
        drift=caller.observe_drift(stack.name) if observing and caller.observe_drift else None,
        name=stack.name,
        status=stack.status,
        destroyed_at=from_text(stack.destroyed_at) if stack.destroyed_at else None,
        dependencies=graph.dependency_facts(stack.name),
        cycles=tuple(tuple(cycle) for cycle in graph.cycles(within=closure)),
        lock=_lock_facts(locks.find_lock(connection, stack.id), caller),
        config_path=caller.config_path,
        config_problem=caller.config_problem,
    )


def _lock_facts(lock: locks.LockRecord | None, caller: Caller) -> LockFacts | None:
    if lock is None:
        return None
    info = LockInfo(lock_id=lock.lock_id, locked_by=lock.locked_by,
                    acquired_by_actor=lock.acquired_by_actor, locked_at=from_text(lock.locked_at),
                    expires_at=from_text(lock.expires_at), operation=lock.operation,
                    reason=lock.reason, metadata=lock.metadata, generation=lock.generation)
    if info.is_expired(caller.invocation.at):
        return None
    return LockFacts(locked_by=info.locked_by, operation=info.operation,
                     expires_at=info.expires_at, held_by_caller=info.is_held_by(caller.invocation))
