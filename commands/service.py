"""The write-side application service: load a stack, call one domain method, save, retry."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError

from commands.drift import DriftProcess, ResourceProviders
from commands.leases import Lease, wait_for_lock
from commands.models import (
    AcquireLock,
    AddDependencies,
    ChangeOutputs,
    CreateSnapshot,
    CreateStack,
    DeclareResources,
    DeleteSnapshot,
    DestroyStack,
    ForceReleaseLock,
    PruneSnapshots,
    ReleaseLock,
    RemoveDependencies,
    RemoveResource,
    RenewLock,
    RestoreSnapshot,
    SetValues,
    UnsetValues,
    UpdateStack,
)
from commands.outcome import Outcome
from commands.secrets import SecretBox, SecretBoxes, resealed, sealed
from commands.terraform import StateDocuments
from domain.errors import ConcurrentModification, DomainError, InvalidInput, StackNotFound
from domain.invocation import Invocation
from domain.locks import LockInfo
from domain.names import stack_id
from domain.stack import Stack
from domain.validation import CheckResult
from domain.versions import StackState, StateDiff, diff_states

MAX_ATTEMPTS = 25

PathsBack = Callable[[str, Sequence[str]], Mapping[str, Sequence[str]]]
"""For a stack and the stacks it is about to depend on: each of those from which a path of
dependency edges between existing (not destroyed) stacks leads back to the stack, with that
path. The read side provides it (the dependencies read model, caught up first)."""

Decision = Callable[[Stack, Invocation], dict[str, Any]]
"""A change to one loaded stack: calls its domain methods, returns what the outcome reports."""


class StackService:
    """Handles stack commands against the event store, retrying on concurrent writes.

    With `auto_lock`, every change to an existing stack takes the stack's lock first and
    releases it after, unless the caller already holds it.
    """

    def __init__(
        self,
        store: Application[UUID],
        clock: Callable[[], datetime],
        *,
        paths_back: PathsBack,
        auto_lock: bool = False,
        auto_snapshot: bool = False,
        lock_ttl: timedelta = timedelta(hours=1),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        providers: ResourceProviders | None = None,
        max_parallel_probes: int = 1,
        documents: StateDocuments | None = None,
        secrets: SecretBoxes | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.paths_back = paths_back
        self.auto_lock = auto_lock
        self.auto_snapshot = auto_snapshot
        self.lock_ttl = lock_ttl
        self.sleep = sleep
        self.monotonic = monotonic
        self.drift = DriftProcess(self, providers, concurrency=max_parallel_probes)
        self.documents = documents
        """Where Terraform state documents are kept (a restore may store one again)."""
        self._secrets = secrets

    # ---- lifecycle ----------------------------------------------------------------------

    def create_stack(self, command: CreateStack, invocation: Invocation) -> Outcome:
        def attempt(inv: Invocation) -> tuple[Stack, dict[str, Any]]:
            try:
                stack = self.load(command.stack)
            except StackNotFound:
                stack, recreated = Stack.create(command.stack, command.description, inv), False
            else:
                stack.recreate(command.description, inv)
                recreated = True
            # No cycle check here: until now the stack did not exist (or was destroyed), so
            # edges that others declared toward it while it was missing did not join existing
            # stacks. A cycle closed that way is reported by `deps check`, `deps order` and
            # `stack validate`.
            added = stack.add_dependencies(command.depends_on, inv, paths_back={})
            return stack, {"recreated": recreated, "dependencies": added}

        return self._run(command.stack, invocation, attempt)

    def update_stack(self, command: UpdateStack, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "changed": stack.update(inv, description=command.description)}, "stack update")

    def destroy_stack(self, command: DestroyStack, invocation: Invocation) -> Outcome:
        with self.auto_locked(command.stack, invocation, "stack destroy") as (inv, auto):
            def destroy(stack: Stack, inv: Invocation) -> dict[str, Any]:
                # Our own automatic lock does not stand in the way; a lock taken by hand does.
                stack.destroy(inv, command.reason, force=command.force or auto,
                              snapshot_first=self.auto_snapshot)
                return {}

            return self.change(command.stack, inv, destroy)

    # ---- state values and outputs --------------------------------------------------------

    def secrets(self) -> SecretBox:
        """The keys that seal and open secrets (loaded now if not yet)."""
        if self._secrets is None:
            raise InvalidInput("secrets cannot be used here: no secret key is configured")
        return self._secrets()

    def set_values(self, command: SetValues, invocation: Invocation) -> Outcome:
        # The key is loaded before anything is written (an automatic lock included).
        box = self.secrets() if command.secrets else None

        def set_them(stack: Stack, inv: Invocation) -> dict[str, Any]:
            values = dict(command.values)
            if box is not None:
                values.update(sealed(box, stack.name, stack.values, command.secrets))
            return {"changed": stack.set_values(values, inv)}

        return self.change(command.stack, invocation, set_them, "state set")

    def unset_values(self, command: UnsetValues, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "deleted": stack.unset_values(command.keys, inv)}, "state unset")

    def change_outputs(self, command: ChangeOutputs, invocation: Invocation) -> Outcome:
        box = self.secrets() if command.set_secrets else None

        def change(stack: Stack, inv: Invocation) -> dict[str, Any]:
            outputs = dict(command.set)
            if box is not None:
                outputs.update(sealed(box, stack.name, stack.outputs, command.set_secrets))
            changed = stack.set_outputs(outputs, inv) if outputs else []
            deleted = stack.unset_outputs(command.unset, inv) if command.unset else []
            return {"changed": changed, "deleted": deleted}

        return self.change(command.stack, invocation, change, "output")

    def rotate_secrets(self, names: Sequence[str], sealer: SecretBox,
                       invocation: Invocation) -> dict[str, dict[str, Any]]:
        """Seal every secret of these stacks again under the sealer's key (opened with the
        keys in use). Each stack is one write; a destroyed stack is left as it is."""
        opener = self.secrets()
        done: dict[str, dict[str, Any]] = {}
        for name in names:
            def rotate(stack: Stack, inv: Invocation) -> dict[str, Any]:
                values = resealed(opener, sealer, stack.name, stack.values)
                outputs = resealed(opener, sealer, stack.name, stack.outputs)
                stack.rotate_secrets(inv, sealer.key_id, values=values, outputs=outputs)
                return {"values": sorted(values), "outputs": sorted(outputs)}

            try:
                load = self.load(name)
            except StackNotFound:
                continue
            if load.is_destroyed:
                done[name] = {"values": [], "outputs": [], "skipped": "destroyed"}
                continue
            done[name] = self.change(name, invocation, rotate).detail
        return done

    # ---- snapshots ----------------------------------------------------------------------

    def create_snapshot(self, command: CreateSnapshot, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "snapshot": stack.create_snapshot(inv, creator=command.creator,
                                              description=command.description)},
            "snapshot create")

    def delete_snapshot(self, command: DeleteSnapshot, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "snapshot": stack.delete_snapshot(inv, command.version)}, "snapshot delete")

    def restore_snapshot(self, command: RestoreSnapshot, invocation: Invocation) -> Outcome:
        """Append an automatic backup and the restored state, in one atomic write."""
        def restore(stack: Stack, inv: Invocation) -> dict[str, Any]:
            target = self.state_of_version(stack, command.version)
            if self.documents is not None:
                from commands.terraform import restored_state

                target = restored_state(stack, target, self.documents)
            before = stack.user_state()
            backup = stack.restore_snapshot(inv, command.version, target)
            return {"backup": backup, "diff": diff_states(before, target)}

        return self.change(command.stack, invocation, restore, "snapshot restore")

    def plan_restore(self, command: RestoreSnapshot) -> StateDiff:
        """What a restore would change, without changing anything."""
        stack = self.load(command.stack)
        return diff_states(stack.user_state(), self.state_of_version(stack, command.version))

    def state_of_version(self, stack: Stack, version: int) -> StackState:
        """The state a live version names, derived by replaying the stream to its position."""
        mark = stack.version_mark(version)
        return self.load(stack.name, version=mark.position).user_state()

    def prune_snapshots(self, command: PruneSnapshots, invocation: Invocation,
                        *, dry_run: bool = False) -> Outcome:
        """Delete live versions older than `older_than`, keeping the newest `keep` of them."""
        if dry_run:
            stack = self.load(command.stack)
            doomed = stack.prunable_versions(self.clock(), command.older_than, command.keep)
            return Outcome(command.stack, str(stack.id), stack.version, [],
                           {"pruned": doomed, "dry_run": True})
        return self.change(command.stack, invocation, lambda stack, inv: {
            "pruned": stack.prune_snapshots(inv, command.older_than, command.keep),
            "dry_run": False}, "snapshot prune")
    # ---- dependencies and validation ------------------------------------------------------

    def add_dependencies(self, command: AddDependencies, invocation: Invocation) -> Outcome:
        """Declare dependencies; one that would close a cycle among existing stacks is refused.

        The cycle check needs the whole graph, whose edges live in many streams, so it reads
        the dependencies read model (caught up first), not the streams: it sees every edge
        written before this command, but not one another process writes concurrently. Two
        concurrent commands that each add one half of a cycle (`a -> b` and `b -> a`) touch
        different streams, so neither conflicts and both succeed. `deps check`, `deps order`
        and `stack validate` find such a cycle afterwards and report it.
        """
        def add(stack: Stack, inv: Invocation) -> dict[str, Any]:
            new = [name for name in command.dependencies if name not in stack.dependencies]
            paths = self.paths_back(command.stack, new) if new and not stack.is_destroyed else {}
            return {"added": stack.add_dependencies(command.dependencies, inv, paths_back=paths)}

        return self.change(command.stack, invocation, add, "deps add")

    def remove_dependencies(self, command: RemoveDependencies, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "removed": stack.remove_dependencies(command.dependencies, inv)}, "deps remove")

    def record_validations(self, checks: Mapping[str, Sequence[CheckResult]],
                           invocation: Invocation) -> dict[str, tuple[bool, str]]:
        """Record many stacks' validations in one write; each stack's verdict and event."""
        for _ in range(MAX_ATTEMPTS):
            inv = invocation.model_copy(update={"at": self.clock()})
            stacks = self._load_many(list(checks))
            verdicts = {stack.name: stack.record_validation(checks[stack.name], inv)
                        for stack in stacks}
            events = {stack.name: getattr(type(stack.pending_events[-1]), "TOPIC", "")
                      for stack in stacks}
            try:
                self.store.save(*stacks)
            except RecordConflictError:
                continue
            return {name: (verdicts[name], events[name]) for name in checks}
        raise ConcurrentModification(", ".join(checks), MAX_ATTEMPTS)

    # ---- executions ---------------------------------------------------------------------

    def start_execution(self, name: str, invocation: Invocation,
                        **run: Any) -> Outcome:
        """Record that a run begins (see `Stack.start_execution` for what `run` holds)."""
        return self.change(name, invocation, lambda stack, inv: {
            "execution": stack.start_execution(inv, **run)})

    def renew_execution(self, name: str, execution_id: str, lease: timedelta,
                        invocation: Invocation) -> Outcome:
        return self.change(name, invocation, lambda stack, inv: {
            "execution": stack.renew_execution(inv, execution_id, lease)})

    def finish_execution(self, name: str, execution_id: str, invocation: Invocation,
                         **outcome: Any) -> Outcome:
        """Record how a run ended (see `Stack.finish_execution`)."""
        def finish(stack: Stack, inv: Invocation) -> dict[str, Any]:
            stack.finish_execution(inv, execution_id, **outcome)
            return {}

        return self.change(name, invocation, finish)

    # ---- locks --------------------------------------------------------------------------

    def acquire_lock(
        self,
        command: AcquireLock,
        invocation: Invocation,
        on_wait: Callable[[LockInfo], None] | None = None,
    ) -> Outcome:
        """Take the lock; with `wait`, poll with backoff until it is free or the wait ends."""
        return wait_for_lock(
            lambda: self.change(command.stack, invocation, lambda stack, inv: {
                "lock": stack.acquire_lock(
                    inv, ttl=command.ttl, locked_by=command.locked_by,
                    operation=command.operation, reason=command.reason,
                    metadata=command.metadata, lock_id=command.lock_id)}),
            stack=command.stack, wait=command.wait, sleep=self.sleep,
            monotonic=self.monotonic, on_wait=on_wait)

    def release_lock(self, command: ReleaseLock, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "lock": stack.release_lock(inv, unlocked_by=command.unlocked_by)})

    def renew_lock(self, command: RenewLock, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "lock": stack.renew_lock(inv, ttl=command.ttl)})

    def force_release_lock(self, command: ForceReleaseLock, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "lock": stack.force_release_lock(inv, reason=command.reason,
                                             lock_id=command.lock_id)})

    # ---- resources ----------------------------------------------------------------------

    def declare_resources(self, command: DeclareResources, invocation: Invocation) -> Outcome:
        """Make the stack's declared resources match the command's (or, dry, plan it)."""
        providers = self.drift.providers()
        resources = [providers.normalize(resource) for resource in command.resources]
        if command.dry_run:
            stack = self.load(command.stack)
            return Outcome(command.stack, str(stack.id), stack.version, [],
                           {"plan": stack.plan_resources(resources), "dry_run": True})
        return self.change(command.stack, invocation, lambda stack, inv: {
            "plan": stack.declare_resources(resources, inv), "dry_run": False},
            "resources apply")

    def remove_resource(self, command: RemoveResource, invocation: Invocation) -> Outcome:
        return self.change(command.stack, invocation, lambda stack, inv: {
            "resource": stack.remove_resource(command.name, inv)}, "resources remove")

    @contextmanager
    def hold_lock(self, command: AcquireLock, invocation: Invocation, *,
                  on_wait: Callable[[LockInfo], None] | None = None,
                  renew_every: float | None = None,
                  on_lost: Callable[[DomainError], None] | None = None) -> Iterator[Lease]:
        """Hold the stack's lock for a long operation: taken (waiting as the command says),
        renewed in the background before it runs out, and released when the block ends.
        `on_lost` hears, from the renewing thread, that the lock was taken away."""
        acquired = self.acquire_lock(command, invocation, on_wait=on_wait)
        lease = Lease(self, command.stack, invocation, acquired.detail["lock"], command.ttl,
                      on_lost=on_lost)
        lease.start_beating(renew_every)
        try:
            yield lease
        finally:
            lease.release()

    @contextmanager
    def auto_locked(self, name: str, invocation: Invocation,
                    operation: str) -> Iterator[tuple[Invocation, bool]]:
        """Hold the stack's lock around a change when `auto_lock` is on.

        Yields the invocation to use (presenting the automatic lock's id) and whether an
        automatic lock was taken. A caller that already holds the lock keeps it.
        """
        if not self.auto_lock:
            yield invocation, False
            return
        held = self.load(name).held_lock(self.clock())
        if held is not None and held.is_held_by(invocation):
            yield invocation, False
            return
        command = AcquireLock(stack=name, ttl=self.lock_ttl, operation=operation,
                              reason="auto_lock")
        with self.hold_lock(command, invocation) as lease:
            yield lease.invocation, True

    # ---- machinery ----------------------------------------------------------------------

    def load(self, name: str, version: int | None = None) -> Stack:
        """The stack as it is now, or as it was at an aggregate version."""
        try:
            stack: Stack = self.store.repository.get(stack_id(name), version=version)
        except AggregateNotFoundError:
            raise StackNotFound(name) from None
        return stack

    def _load_many(self, names: Sequence[str]) -> list[Stack]:
        """These stacks as they are now, read in bulk where the event store can."""
        get_many = getattr(self.store, "get_many", None)
        if get_many is None:
            return [self.load(name) for name in names]
        ids = [stack_id(name) for name in names]
        found: dict[UUID, Stack] = get_many(ids)
        missing = next((name for name, id_ in zip(names, ids, strict=True)
                        if id_ not in found), None)
        if missing is not None:
            raise StackNotFound(missing)
        return [found[id_] for id_ in ids]

    def change(self, name: str, invocation: Invocation, decide: Decision,
               auto_lock_operation: str | None = None, *,
               create_missing: bool = False) -> Outcome:
        """Load the stack, apply one decision and save it (under `auto_lock` if named).

        `create_missing`: a stack that never existed is created by the same write (a
        destroyed one is not: it stays destroyed until someone creates it again).
        """
        if auto_lock_operation is not None:
            with self.auto_locked(name, invocation, auto_lock_operation) as (inv, _):
                return self.change(name, inv, decide, create_missing=create_missing)

        def attempt(inv: Invocation) -> tuple[Stack, dict[str, Any]]:
            try:
                stack = self.load(name)
            except StackNotFound:
                if not create_missing:
                    raise
                stack = Stack.create(name, "", inv)
            return stack, decide(stack, inv)

        return self._run(name, invocation, attempt)

    def preview(self, name: str, invocation: Invocation, decide: Decision, *,
                create_missing: bool = False) -> Outcome:
        """What `change` would do, decided on a copy of the stack that is never saved."""
        inv = invocation.model_copy(update={"at": self.clock()})
        try:
            stack = self.load(name)
        except StackNotFound:
            if not create_missing:
                raise
            stack = Stack.create(name, "", inv)
        detail = decide(stack, inv)
        pending = [getattr(type(event), "TOPIC", "") for event in stack.pending_events]
        return Outcome(name, str(stack.id), stack.version, pending, detail)

    def _run(
        self,
        name: str,
        invocation: Invocation,
        attempt: Callable[[Invocation], tuple[Stack, dict[str, Any]]],
    ) -> Outcome:
        """Run an attempt and save; on a concurrent write, reload and decide again."""
        for _ in range(MAX_ATTEMPTS):
            # A fresh time per attempt keeps each stream's timestamps in order.
            inv = invocation.model_copy(update={"at": self.clock()})
            stack, detail = attempt(inv)
            pending: list[str] = [getattr(type(event), "TOPIC", "") for event in stack.pending_events]
            try:
                self.store.save(stack)
            except RecordConflictError:
                continue
            return Outcome(name, str(stack.id), stack.version, pending, detail)
        raise ConcurrentModification(name, MAX_ATTEMPTS)
