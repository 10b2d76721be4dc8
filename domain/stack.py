"""The Stack aggregate: one event stream per stack name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from pydantic import BaseModel, ConfigDict

from domain.dependencies import CycleRefused, DependencyNotDeclared, validate_dependencies
from domain.drift import DriftReport, FixMode, ResourceDrift, ResourceFix
from domain.errors import (
    InvalidInput,
    KeyNotFound,
    StackAlreadyExists,
    StackDestroyed,
)
from domain.events import DomainEvent, stamp
from domain.invocation import Invocation
from domain.locks import (
    LockInfo,
    NotLocked,
    NotLockHolder,
    StackLocked,
    validate_lock_text,
    validate_metadata,
    validate_ttl,
)
from domain.names import stack_id, validate_key, validate_stack_name
from domain.resources import (
    Resource,
    ResourceInUse,
    ResourceNotFound,
    ResourcePlan,
    ResourcesChanged,
    dependency_order,
    dependents_of,
    plan_declarations,
    validate_declarations,
)
from domain.validation import CheckResult, passed
from domain.versions import (
    SYSTEM_CREATOR,
    SnapshotDeleted,
    SnapshotNotFound,
    StackState,
    VersionMark,
    same_json,
)

MAX_DESCRIPTION_LENGTH = 4096


class StackStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    DESTROYED = "destroyed"


def _validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")
    if any(ord(c) < 32 and c not in "\t\n" for c in description):
        raise InvalidInput("description must not contain control characters")
    return description


class StackMemento(BaseModel):
    """The whole state of a Stack, as stored in a library-level aggregate snapshot."""

    model_config = ConfigDict(extra="forbid")

    created_on: datetime
    modified_on: datetime
    name: str
    description: str
    status: StackStatus
    incarnation: int
    created_at: datetime
    destroyed_at: datetime | None
    values: dict[str, Any]
    outputs: dict[str, Any]
    lock: LockInfo | None = None
    lock_generation: int = 0
    versions: dict[int, VersionMark] = {}
    last_version: int = 0
    dependencies: list[str] = []
    resources: dict[str, Resource] = {}


class StackSnapshot(BaseModel):
    """A library-level snapshot of a Stack, so loading does not grow with its history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TOPIC: ClassVar[str] = "stack.snapshot"

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]

    @classmethod
    def take(cls, aggregate: Stack) -> StackSnapshot:
        state = aggregate.memento().model_dump(mode="json")
        if Stack.class_version > 1:
            state["class_version"] = Stack.class_version
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=aggregate.modified_on,
            topic=Stack.TOPIC,
            state=state,
        )

    def mutate(self, _: None) -> Stack:
        state = dict(self.state)
        from_version = state.pop("class_version", 1)
        while from_version < Stack.class_version:
            getattr(Stack, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        return Stack.from_memento(self.originator_id, self.originator_version,
                                  StackMemento.model_validate(state))


class Stack(BaseAggregate[UUID]):
    """A named unit of infrastructure or workflow state and everything that happened to it."""

    TOPIC: ClassVar[str] = "stack"
    class_version: ClassVar[int] = 1
    Snapshot: ClassVar[type[StackSnapshot]] = StackSnapshot

    if TYPE_CHECKING:  # set by the events' apply(); not dataclass fields
        name: str
        description: str
        status: StackStatus
        incarnation: int
        created_at: datetime
        destroyed_at: datetime | None
        values: dict[str, Any]
        outputs: dict[str, Any]
        lock: LockInfo | None
        lock_generation: int
        versions: dict[int, VersionMark]
        last_version: int
        dependencies: list[str]
        resources: dict[str, Resource]

    # ---- events -------------------------------------------------------------------------

    class Event(DomainEvent):
        pass

    class Created(Event, CanInitAggregate[UUID]):
        """The stack was created, or created again after it had been destroyed."""

        TOPIC: ClassVar[str] = "stack.created"
        originator_topic: str
        name: str
        description: str = ""

        def mutate(self, aggregate: Any) -> Any:
            if aggregate is None:
                return super().mutate(None)
            return CanMutateAggregate.mutate(self, aggregate)

        def apply(self, aggregate: Any) -> None:
            stack: Stack = aggregate
            stack.name = self.name
            stack.description = self.description
            stack.status = StackStatus.CREATED
            stack.incarnation = getattr(stack, "incarnation", 0) + 1
            stack.created_at = self.timestamp
            stack.destroyed_at = None
            stack.values = {}
            stack.outputs = {}
            stack.lock = None
            stack.lock_generation = getattr(stack, "lock_generation", 0)
            # Snapshot versions are never reused, not even by a later incarnation.
            stack.versions = getattr(stack, "versions", {})
            stack.last_version = getattr(stack, "last_version", 0)
            # Created again after a destroy, a stack starts from a fresh state: the
            # dependencies it had are dropped with its values and outputs (history keeps them).
            stack.dependencies = []
            stack.resources = {}

    class Updated(Event):
        """The stack's description or status changed."""

        TOPIC: ClassVar[str] = "stack.updated"
        description: str | None = None
        status: StackStatus | None = None

        def apply(self, aggregate: Any) -> None:
            stack: Stack = aggregate
            if self.description is not None:
                stack.description = self.description
            if self.status is not None:
                stack.status = self.status

    class Destroyed(Event):
        TOPIC: ClassVar[str] = "stack.destroyed"
        reason: str = ""

        def apply(self, aggregate: Any) -> None:
            stack: Stack = aggregate
            stack.status = StackStatus.DESTROYED
            stack.destroyed_at = self.timestamp

    class StateSet(Event):
        TOPIC: ClassVar[str] = "state.set"
        key: str
        value: Any

        def apply(self, aggregate: Any) -> None:
            aggregate.values[self.key] = self.value

    class StateDeleted(Event):
        TOPIC: ClassVar[str] = "state.deleted"
        key: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.values[self.key]

    class OutputSet(Event):
        TOPIC: ClassVar[str] = "output.set"
        key: str
        value: Any

        def apply(self, aggregate: Any) -> None:
            aggregate.outputs[self.key] = self.value

    class OutputDeleted(Event):
        TOPIC: ClassVar[str] = "output.deleted"
        key: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.outputs[self.key]

    class LockAcquired(Event):
        TOPIC: ClassVar[str] = "lock.acquired"
        lock_id: str
        locked_by: str
        operation: str = ""
        reason: str = ""
        metadata: dict[str, str] = {}
        expires_at: datetime
        generation: int

        def apply(self, aggregate: Any) -> None:
            aggregate.lock = LockInfo(
                lock_id=self.lock_id, locked_by=self.locked_by, acquired_by_actor=self.actor,
                locked_at=self.timestamp, expires_at=self.expires_at, operation=self.operation,
                reason=self.reason, metadata=self.metadata, generation=self.generation,
            )
            aggregate.lock_generation = self.generation

    class LockRenewed(Event):
        TOPIC: ClassVar[str] = "lock.renewed"
        lock_id: str
        expires_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.lock = aggregate.lock.model_copy(update={"expires_at": self.expires_at})

    class LockReleased(Event):
        TOPIC: ClassVar[str] = "lock.released"
        lock_id: str
        released_by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.lock = None

    class LockForceReleased(Event):
        """Someone who did not hold the lock removed it; who and why are on record."""

        TOPIC: ClassVar[str] = "lock.force_released"
        lock_id: str
        holder: str
        reason: str = ""

        def apply(self, aggregate: Any) -> None:
            aggregate.lock = None

    class LockExpired(Event):
        """The lease ran out unreleased; recorded when someone takes the stack over."""

        TOPIC: ClassVar[str] = "lock.expired"
        lock_id: str
        holder: str
        expired_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.lock = None

    class SnapshotCreated(Event):
        """Version N now names the stack's state at this event's position."""

        TOPIC: ClassVar[str] = "snapshot.created"
        version: int
        creator: str
        description: str = ""

        def apply(self, aggregate: Any) -> None:
            aggregate.versions = {**aggregate.versions, self.version: VersionMark(
                version=self.version, position=self.originator_version, creator=self.creator,
                description=self.description, created_at=self.timestamp)}
            aggregate.last_version = self.version

    class SnapshotDeleted(Event):
        """The version is withdrawn; its number is never reused and its history stays."""

        TOPIC: ClassVar[str] = "snapshot.deleted"
        version: int

        def apply(self, aggregate: Any) -> None:
            mark = aggregate.versions[self.version]
            aggregate.versions = {**aggregate.versions, self.version: mark.model_copy(
                update={"deleted_at": self.timestamp, "deleted_by": self.actor})}

    class SnapshotRestored(Event):
        """The stack's state was rolled forward to what version N held (carried in full)."""

        TOPIC: ClassVar[str] = "snapshot.restored"
        version: int
        state: StackState

        def apply(self, aggregate: Any) -> None:
            stack: Stack = aggregate
            stack.description = self.state.description
            stack.status = StackStatus(self.state.status)
            stack.destroyed_at = self.timestamp if stack.is_destroyed else None
            stack.values = dict(self.state.values)
            stack.outputs = dict(self.state.outputs)
            stack.dependencies = list(self.state.dependencies)
            stack.resources = dict(self.state.resources)
    # ---- dependency and validation events -------------------------------------------------

    class DependencyAdded(Event):
        """The stack now depends on another (which may not exist yet)."""

        TOPIC: ClassVar[str] = "stack.dependency.added"
        depends_on: str

        def apply(self, aggregate: Any) -> None:
            aggregate.dependencies.append(self.depends_on)

    class DependencyRemoved(Event):
        TOPIC: ClassVar[str] = "stack.dependency.removed"
        depends_on: str

        def apply(self, aggregate: Any) -> None:
            aggregate.dependencies.remove(self.depends_on)

    class ValidationPassed(Event):
        """Pre-flight validation found nothing that fails (warnings may be among the checks)."""

        TOPIC: ClassVar[str] = "validation.passed"
        checks: list[CheckResult]

        def apply(self, aggregate: Any) -> None:
            """A record of who validated what; the stack's state does not change."""

    class ValidationFailed(Event):
        TOPIC: ClassVar[str] = "validation.failed"
        checks: list[CheckResult]

        def apply(self, aggregate: Any) -> None:
            """A record of who validated what; the stack's state does not change."""
    # ---- resource and drift events -------------------------------------------------------

    class ResourceDeclared(Event):
        TOPIC: ClassVar[str] = "resource.declared"
        name: str
        type: str
        attributes: dict[str, Any] = {}
        depends_on: list[str] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.resources[self.name] = Resource(
                name=self.name, type=self.type, attributes=self.attributes,
                depends_on=tuple(self.depends_on))

    class ResourceUpdated(ResourceDeclared):
        """A declared resource's type, attributes or dependencies changed."""

        TOPIC: ClassVar[str] = "resource.updated"
        changed: list[str] = []

    class ResourceRemoved(Event):
        """The stack no longer declares the resource (the real world is left as it is)."""

        TOPIC: ClassVar[str] = "resource.removed"
        name: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.resources[self.name]

    class DriftDetected(Event):
        """The real world was observed and some resources do not match, or could not be read.

        `checked` resources were observed -- every one the stack declared -- and `resources`
        are those not in sync; all the others were. Only differences are kept: the log is
        forever, and replaying a stack should not grow with the size of its observations.
        """

        TOPIC: ClassVar[str] = "drift.detected"
        checked: int
        resources: list[ResourceDrift]

        def apply(self, aggregate: Any) -> None:
            """An observation changes no desired state."""

    class DriftChecked(DriftDetected):
        """The real world was observed and every resource matches."""

        TOPIC: ClassVar[str] = "drift.checked"

    class DriftFixed(Event):
        """A fix ran: what it changed, and what observing each resource afterwards found."""

        TOPIC: ClassVar[str] = "drift.fixed"
        mode: FixMode
        resources: list[ResourceFix]

        def apply(self, aggregate: Any) -> None:
            """The real world changed, or `resource.updated` events adopted it."""

    # ---- construction -------------------------------------------------------------------

    @staticmethod
    def create_id(name: str) -> UUID:
        return stack_id(name)

    @classmethod
    def create(cls, name: str, description: str, invocation: Invocation) -> Stack:
        """Create a new stack with this name."""
        validate_stack_name(name)
        return cls._create(
            cls.Created,
            id=stack_id(name),
            name=name,
            description=_validate_description(description),
            **stamp(invocation),
        )

    def recreate(self, description: str, invocation: Invocation) -> None:
        """Create a destroyed stack again: a fresh state on the same, unbroken history."""
        if not self.is_destroyed:
            raise StackAlreadyExists(self.name)
        self.trigger_event(
            self.Created,
            originator_topic=self.TOPIC,
            name=self.name,
            description=_validate_description(description),
            **self._stamp(invocation),
        )

    # ---- queries ------------------------------------------------------------------------

    @property
    def is_destroyed(self) -> bool:
        return self.status is StackStatus.DESTROYED

    def user_state(self) -> StackState:
        """The part of the stack a snapshot captures and a restore brings back."""
        return StackState(description=self.description, status=self.status.value,
                          values=self.values, outputs=self.outputs,
                          dependencies=sorted(self.dependencies),
                          resources=dict(sorted(self.resources.items())))

    def version_mark(self, version: int, *, include_deleted: bool = False) -> VersionMark:
        """The live snapshot `version`; raises if it never existed or was deleted."""
        mark = self.versions.get(version)
        if mark is None:
            raise SnapshotNotFound(self.name, version)
        if mark.is_deleted and not include_deleted:
            raise SnapshotDeleted(self.name, mark)
        return mark

    def held_lock(self, at: datetime) -> LockInfo | None:
        """The lock that protects the stack at this moment (an expired lease does not)."""
        if self.lock is None or self.lock.is_expired(at):
            return None
        return self.lock

    # ---- commands -----------------------------------------------------------------------

    def update(self, invocation: Invocation, *, description: str | None = None) -> bool:
        """Change the description; returns False when nothing would change."""
        self._ensure_mutable(invocation)
        if description is None or description == self.description:
            return False
        self.trigger_event(
            self.Updated, description=_validate_description(description), **self._stamp(invocation)
        )
        return True

    def destroy(self, invocation: Invocation, reason: str = "", *, force: bool = False,
                snapshot_first: bool = False) -> None:
        """Destroy the stack; its history stays and its name can be created again.

        A locked stack is not destroyed, even by the lock's holder, unless forced; the
        holder's lock is then released first, on record.
        """
        self._ensure_mutable(invocation)
        held = self.held_lock(invocation.at)
        if held is not None:
            if not force:
                raise StackLocked(self.name, held, yours=True)
            self.trigger_event(self.LockReleased, lock_id=held.lock_id,
                               released_by=invocation.actor, **self._stamp(invocation))
        if snapshot_first:
            self._take_snapshot(invocation, SYSTEM_CREATOR, "Automatic snapshot before destroy")
        self.trigger_event(self.Destroyed, reason=reason, **self._stamp(invocation))

    def set_values(self, values: Mapping[str, Any], invocation: Invocation) -> list[str]:
        """Set state values; returns the keys whose value changed."""
        return self._set(values, self.values, self.StateSet, invocation, "state key")

    def unset_values(self, keys: Iterable[str], invocation: Invocation) -> list[str]:
        """Delete state values; every key must exist."""
        return self._unset(keys, self.values, self.StateDeleted, invocation, "state value")

    def set_outputs(self, values: Mapping[str, Any], invocation: Invocation) -> list[str]:
        """Set outputs; returns the keys whose value changed."""
        return self._set(values, self.outputs, self.OutputSet, invocation, "output key")

    def unset_outputs(self, keys: Iterable[str], invocation: Invocation) -> list[str]:
        """Delete outputs; every key must exist."""
        return self._unset(keys, self.outputs, self.OutputDeleted, invocation, "output")

    # ---- locks --------------------------------------------------------------------------

    def acquire_lock(
        self,
        invocation: Invocation,
        *,
        ttl: timedelta,
        locked_by: str | None = None,
        operation: str = "",
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
        lock_id: str | None = None,
    ) -> LockInfo:
        """Take the stack's lock; an expired lease is taken over, on record."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        validate_ttl(ttl)
        holder = validate_lock_text(locked_by or invocation.actor, "--locked-by") or invocation.actor
        held = self.held_lock(invocation.at)
        if held is not None:
            raise StackLocked(self.name, held)
        stamp_fields = self._stamp(invocation)
        if self.lock is not None:
            self.trigger_event(self.LockExpired, lock_id=self.lock.lock_id,
                               holder=self.lock.locked_by, expired_at=self.lock.expires_at,
                               **stamp_fields)
        self.trigger_event(
            self.LockAcquired,
            lock_id=lock_id or str(uuid4()),
            locked_by=holder,
            operation=validate_lock_text(operation, "--operation"),
            reason=validate_lock_text(reason, "--reason"),
            metadata=validate_metadata(dict(metadata or {})),
            expires_at=stamp_fields["timestamp"] + ttl,
            generation=self.lock_generation + 1,
            **stamp_fields,
        )
        return self.lock  # type: ignore[return-value]

    def release_lock(self, invocation: Invocation, *, unlocked_by: str | None = None) -> LockInfo:
        """Release the lock; only its holder may."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        held = self._require_held_lock(invocation, claimed=unlocked_by)
        self.trigger_event(self.LockReleased, lock_id=held.lock_id,
                           released_by=unlocked_by or invocation.actor, **self._stamp(invocation))
        return held

    def renew_lock(self, invocation: Invocation, *, ttl: timedelta) -> LockInfo:
        """Extend the holder's lease to `ttl` from now (a heartbeat for long runs)."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        validate_ttl(ttl)
        held = self._require_held_lock(invocation)
        stamp_fields = self._stamp(invocation)
        self.trigger_event(self.LockRenewed, lock_id=held.lock_id,
                           expires_at=stamp_fields["timestamp"] + ttl, **stamp_fields)
        return self.lock  # type: ignore[return-value]

    def force_release_lock(self, invocation: Invocation, *, reason: str = "",
                           lock_id: str | None = None) -> LockInfo:
        """Remove anyone's lock (held or expired); who forced it and why are recorded."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        if self.lock is None:
            raise NotLocked(self.name)
        if lock_id is not None and lock_id != self.lock.lock_id:
            raise NotLockHolder(self.name, self.lock,
                                f" (lock id {lock_id} does not match the current lock)")
        removed = self.lock
        self.trigger_event(self.LockForceReleased, lock_id=removed.lock_id,
                           holder=removed.locked_by,
                           reason=validate_lock_text(reason, "--reason"),
                           **self._stamp(invocation))
        return removed

    def _require_held_lock(self, invocation: Invocation, claimed: str | None = None) -> LockInfo:
        if self.lock is None:
            raise NotLocked(self.name)
        if self.lock.is_expired(invocation.at):
            raise NotLocked(self.name, expired=self.lock)
        if invocation.lock_id is not None and invocation.lock_id != self.lock.lock_id:
            raise NotLockHolder(self.name, self.lock,
                                f" (lock id {invocation.lock_id} does not match)")
        if not self.lock.is_held_by(invocation, claimed):
            raise NotLockHolder(self.name, self.lock)
        return self.lock

    # ---- snapshots ----------------------------------------------------------------------

    def create_snapshot(self, invocation: Invocation, *, creator: str | None = None,
                        description: str = "") -> VersionMark:
        """Name the current state as the next version (v1, v2, ...)."""
        self._ensure_mutable(invocation)
        who = validate_lock_text(creator or invocation.actor, "--creator") or invocation.actor
        return self._take_snapshot(invocation, who, _validate_description(description))

    def delete_snapshot(self, invocation: Invocation, version: int) -> VersionMark:
        """Withdraw a version; show and restore of it are refused from now on."""
        self._ensure_mutable(invocation)
        mark = self.version_mark(version)
        self.trigger_event(self.SnapshotDeleted, version=version, **self._stamp(invocation))
        return mark

    def restore_snapshot(self, invocation: Invocation, version: int,
                         state: StackState) -> VersionMark:
        """Roll the state forward to what `version` held, after an automatic backup.

        `state` is the version's state as derived by replaying the stream; the event
        carries it so it is self-contained. Restoring a destroyed stack brings it back.
        """
        held = self.held_lock(invocation.at)
        if held is not None and not held.is_held_by(invocation):
            raise StackLocked(self.name, held)
        self.version_mark(version)
        backup = self._take_snapshot(invocation, SYSTEM_CREATOR,
                                     f"Automatic backup before restoring v{version}")
        self.trigger_event(self.SnapshotRestored, version=version, state=state,
                           **self._stamp(invocation))
        return backup

    def prune_snapshots(self, invocation: Invocation, older_than: timedelta,
                        keep: int) -> list[int]:
        """Delete the live versions `prunable_versions` names; returns their numbers."""
        self._ensure_mutable(invocation)
        doomed = self.prunable_versions(invocation.at, older_than, keep)
        for version in doomed:
            self.delete_snapshot(invocation, version)
        return doomed

    def snapshot_by_system(self, invocation: Invocation, description: str) -> VersionMark:
        """A snapshot taken automatically (creator `system`) before a risky change."""
        self._ensure_mutable(invocation)
        return self._take_snapshot(invocation, SYSTEM_CREATOR, description)

    def prunable_versions(self, at: datetime, older_than: timedelta, keep: int) -> list[int]:
        """Live versions created more than `older_than` before `at`, but never the newest `keep`."""
        live = sorted(v for v, mark in self.versions.items() if not mark.is_deleted)
        protected = set(live[-keep:]) if keep else set()
        return [v for v in live
                if v not in protected and self.versions[v].created_at <= at - older_than]

    def _take_snapshot(self, invocation: Invocation, creator: str,
                       description: str) -> VersionMark:
        version = self.last_version + 1
        self.trigger_event(self.SnapshotCreated, version=version, creator=creator,
                           description=description, **self._stamp(invocation))
        return self.versions[version]
    # ---- dependencies -------------------------------------------------------------------

    def add_dependencies(
        self,
        names: Iterable[str],
        invocation: Invocation,
        *,
        paths_back: Mapping[str, Sequence[str]],
    ) -> list[str]:
        """Depend on these stacks; returns the names that were not dependencies already.

        `paths_back` maps a dependency to a path of existing edges leading from it back to
        this stack, where the caller found one: such a dependency would close a cycle and
        is refused. Edges live in many streams, so the caller finds those paths on the
        dependencies read model; see `StackService.add_dependencies` for what that means
        under concurrent writers.
        """
        self._ensure_mutable(invocation)
        wanted = validate_dependencies(self.name, names)
        new = [name for name in wanted if name not in self.dependencies]
        for name in new:
            path_back = paths_back.get(name)
            if path_back:
                raise CycleRefused(self.name, name, path_back)
        for name in new:
            self.trigger_event(self.DependencyAdded, depends_on=name, **self._stamp(invocation))
        return new

    def remove_dependencies(self, names: Iterable[str], invocation: Invocation) -> list[str]:
        """Stop depending on these stacks; each must be a declared dependency."""
        self._ensure_mutable(invocation)
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if name not in self.dependencies:
                raise DependencyNotDeclared(self.name, name)
        for name in wanted:
            self.trigger_event(self.DependencyRemoved, depends_on=name, **self._stamp(invocation))
        return wanted

    def record_validation(self, checks: Sequence[CheckResult], invocation: Invocation) -> bool:
        """Record a pre-flight validation and its outcome; returns whether it passed.

        Validating changes nothing, so it is recorded on a locked or destroyed stack too.
        """
        if not checks:
            raise InvalidInput("a validation needs at least one check")
        ok = passed(checks)
        self.trigger_event(self.ValidationPassed if ok else self.ValidationFailed,
                           checks=list(checks), **self._stamp(invocation))
        return ok
    # ---- resources and drift --------------------------------------------------------------

    def resource(self, name: str) -> Resource:
        """The declared resource with this name."""
        try:
            return self.resources[name]
        except KeyError:
            raise ResourceNotFound(self.name, name) from None

    def plan_resources(self, resources: Sequence[Resource]) -> ResourcePlan:
        """What `declare_resources` would do, without doing it."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        validate_declarations(resources)
        return plan_declarations(self.resources, resources)

    def declare_resources(self, resources: Sequence[Resource],
                          invocation: Invocation) -> ResourcePlan:
        """Make the declarations match this set: declare the new, change the changed, drop the rest."""
        self._ensure_mutable(invocation)
        plan = self.plan_resources(resources)
        fields = self._stamp(invocation)
        for resource in plan.added:
            self.trigger_event(self.ResourceDeclared, **_resource_fields(resource), **fields)
        for update in plan.changed:
            self.trigger_event(self.ResourceUpdated, **_resource_fields(update.resource),
                               changed=list(update.changed), **fields)
        for name in plan.removed:
            self.trigger_event(self.ResourceRemoved, name=name, **fields)
        return plan

    def remove_resource(self, name: str, invocation: Invocation) -> Resource:
        """Stop declaring one resource; resources that depend on it must go first."""
        self._ensure_mutable(invocation)
        resource = self.resource(name)
        needed_by = dependents_of(self.resources, name)
        if needed_by:
            raise ResourceInUse(self.name, name, needed_by)
        self.trigger_event(self.ResourceRemoved, name=name, **self._stamp(invocation))
        return resource

    def record_drift(self, report: DriftReport, invocation: Invocation, *,
                     against: Mapping[str, Resource]) -> DriftReport:
        """Record what observing the real world found against the declarations `against`.

        An observation changes nothing, so it is recorded even while someone else holds
        the lock; it is refused if the declarations changed since it began.
        """
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        if dict(against) != self.resources:
            raise ResourcesChanged(self.name)
        event = self.DriftChecked if report.in_sync else self.DriftDetected
        self.trigger_event(event, checked=len(report.resources),
                           resources=list(report.out_of_sync), **self._stamp(invocation))
        return report

    def select_resources(self, invocation: Invocation, names: Sequence[str] = (), *,
                         for_change: bool = False) -> list[Resource]:
        """The resources to observe (all, or those named), dependencies first.

        A destroyed stack and unknown names are refused; so, `for_change`, is a stack locked
        by someone else -- before anything in the real world is touched.
        """
        if for_change:
            self._ensure_mutable(invocation)
        elif self.is_destroyed:
            raise StackDestroyed(self.name)
        wanted = {self.resource(name).name for name in names}
        return [self.resources[name] for name in dependency_order(self.resources)
                if not wanted or name in wanted]

    def record_fix(self, fixes: Sequence[ResourceFix],
                   invocation: Invocation) -> list[ResourceFix]:
        """Record what a fix did to the real world, failures included."""
        self._ensure_mutable(invocation)
        self.trigger_event(self.DriftFixed, mode=FixMode.APPLY, resources=list(fixes),
                           **self._stamp(invocation))
        return list(fixes)

    def accept_drift(self, adopted: Sequence[Resource], fixes: Sequence[ResourceFix],
                     invocation: Invocation, *,
                     against: Mapping[str, Resource]) -> list[ResourceFix]:
        """Adopt observed states as the desired ones (Terraform's refresh-only apply)."""
        self._ensure_mutable(invocation)
        for resource in adopted:
            if self.resources.get(resource.name) != against.get(resource.name):
                raise ResourcesChanged(self.name)
        validate_declarations(list({**self.resources, **{r.name: r for r in adopted}}.values()))
        fields = self._stamp(invocation)
        for resource in adopted:
            changed = resource.changes_from(self.resources[resource.name])
            if changed:
                self.trigger_event(self.ResourceUpdated, **_resource_fields(resource),
                                   changed=changed, **fields)
        self.trigger_event(self.DriftFixed, mode=FixMode.ACCEPT, resources=list(fixes), **fields)
        return list(fixes)

    # ---- rules --------------------------------------------------------------------------

    def _stamp(self, invocation: Invocation) -> dict[str, Any]:
        """Event fields from the invocation; a stream's timestamps never go backwards."""
        fields = stamp(invocation)
        fields["timestamp"] = max(fields["timestamp"], self.modified_on)
        return fields

    def _ensure_mutable(self, invocation: Invocation) -> None:
        """Every change passes here: a destroyed stack, or one locked by another, refuses."""
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        held = self.held_lock(invocation.at)
        if held is not None and not held.is_held_by(invocation):
            raise StackLocked(self.name, held)

    def _set(
        self,
        values: Mapping[str, Any],
        current: dict[str, Any],
        event: type[Stack.Event],
        invocation: Invocation,
        kind: str,
    ) -> list[str]:
        self._ensure_mutable(invocation)
        for key in values:
            validate_key(key, kind)
        changed = [key for key, value in values.items()
                   if key not in current or not same_json(current[key], value)]
        for key in changed:
            self.trigger_event(event, key=key, value=values[key], **self._stamp(invocation))
        return changed

    def _unset(
        self,
        keys: Iterable[str],
        current: dict[str, Any],
        event: type[Stack.Event],
        invocation: Invocation,
        kind: str,
    ) -> list[str]:
        self._ensure_mutable(invocation)
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            if key not in current:
                raise KeyNotFound(self.name, key, kind)
        for key in wanted:
            self.trigger_event(event, key=key, **self._stamp(invocation))
        return wanted

    def __deepcopy__(self, memo: dict[int, Any]) -> Stack:
        """A copy for a command to change (the repository's cache keeps the original).

        Values are JSON and events replace them rather than change them in place, so copying
        the containers is enough.
        """
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._pending_events = list(self._pending_events)
        copy.values = dict(self.values)
        copy.outputs = dict(self.outputs)
        copy.dependencies = list(self.dependencies)
        copy.resources = dict(self.resources)
        return copy

    # ---- library-level snapshots --------------------------------------------------------

    def memento(self) -> StackMemento:
        return StackMemento(
            created_on=self.created_on,
            modified_on=self.modified_on,
            name=self.name,
            description=self.description,
            status=self.status,
            incarnation=self.incarnation,
            created_at=self.created_at,
            destroyed_at=self.destroyed_at,
            values=self.values,
            outputs=self.outputs,
            lock=self.lock,
            lock_generation=self.lock_generation,
            versions=self.versions,
            last_version=self.last_version,
            dependencies=list(self.dependencies),
            resources=self.resources,
        )

    @classmethod
    def from_memento(cls, id: UUID, version: int, memento: StackMemento) -> Stack:
        stack = cls.__new__(cls)
        stack.__base_init__(originator_id=id, originator_version=version,
                            timestamp=memento.created_on)
        stack.modified_on = memento.modified_on
        stack.name = memento.name
        stack.description = memento.description
        stack.status = memento.status
        stack.incarnation = memento.incarnation
        stack.created_at = memento.created_at
        stack.destroyed_at = memento.destroyed_at
        stack.values = memento.values
        stack.outputs = memento.outputs
        stack.lock = memento.lock
        stack.lock_generation = memento.lock_generation
        stack.versions = memento.versions
        stack.last_version = memento.last_version
        stack.dependencies = list(memento.dependencies)
        stack.resources = dict(memento.resources)
        return stack


def _resource_fields(resource: Resource) -> dict[str, Any]:
    return {"name": resource.name, "type": resource.type, "attributes": resource.attributes,
            "depends_on": list(resource.depends_on)}
