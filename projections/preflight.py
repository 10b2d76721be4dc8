"""The facts `stack validate` checks, gathered from the read models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.errors import StackNotFound
from domain.locks import LockInfo
from domain.resources import Resource
from domain.timestamps import from_text
from domain.validation import LockFacts, StackFacts, ValidationContext
from infrastructure.collector import collection_paused
from infrastructure.sql import Connection
from projections.graph import DependencyGraph
from projections.queries.locks import LockRecord, list_locks
from projections.queries.resources import ResourceRecord, resources_by_stack
from projections.queries.stacks import StackStatus, find_stack_statuses, list_stacks

Reader = Callable[[], Connection]


class ReadModelFacts:
    """The facts about stacks as the read models hold them (caught up when read)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def live_stacks(self) -> list[str]:
        """Every stack that is not destroyed, by name."""
        return [s.name for s in list_stacks(self.reader(), include_destroyed=False)]

    def facts(self, names: Sequence[str], context: ValidationContext) -> list[StackFacts]:
        """What the checks need to know about each stack; an unknown name is not found."""
        connection = self.reader()
        # A few queries for all the stacks, not a few for each.
        found = find_stack_statuses(connection, names)
        missing = next((name for name in names if name not in found), None)
        if missing is not None:
            raise StackNotFound(missing)
        stacks = [found[name] for name in names]
        with collection_paused():
            graph = DependencyGraph.load(connection)
            locks = {lock.stack_id: lock for lock in list_locks(connection)}
            resources = resources_by_stack(connection, [stack.id for stack in stacks])
            return [gather_facts(graph, stack, resources[stack.id], locks.get(stack.id),
                                 context) for stack in stacks]


def gather_facts(graph: DependencyGraph, stack: StackStatus,
                 resources: Sequence[ResourceRecord], lock: LockRecord | None,
                 context: ValidationContext) -> StackFacts:
    """What the checks need to know about one stack."""
    declared = [Resource(name=r.name, type=r.type, attributes=r.desired,
                         depends_on=tuple(r.dependencies)) for r in resources]
    problems = [problem for problem in map(context.resource_problem, declared) if problem]
    observing = context.observe_drift is not None and stack.status != "destroyed"
    dependencies = graph.check(stack.name)
    return StackFacts(
        resources_declared=len(declared),
        resource_problems=tuple(problems),
        drift=context.observe_drift(stack.name) if observing and context.observe_drift
        else None,
        name=stack.name,
        status=stack.status,
        destroyed_at=from_text(stack.destroyed_at) if stack.destroyed_at else None,
        dependency_count=dependencies.count,
        dependencies=dependencies.dependencies,
        cycles=dependencies.cycles,
        lock=_lock_facts(lock, context),
        config_path=context.config_path,
        config_problem=context.config_problem,
    )


def _lock_facts(lock: LockRecord | None, context: ValidationContext) -> LockFacts | None:
    if lock is None:
        return None
    info = LockInfo(lock_id=lock.lock_id, locked_by=lock.locked_by,
                    acquired_by_actor=lock.acquired_by_actor, locked_at=from_text(lock.locked_at),
                    expires_at=from_text(lock.expires_at), operation=lock.operation,
                    reason=lock.reason, metadata=lock.metadata, generation=lock.generation)
    if info.is_expired(context.invocation.at):
        return None
    return LockFacts(locked_by=info.locked_by, operation=info.operation,
                     expires_at=info.expires_at, held_by_caller=info.is_held_by(context.invocation))
