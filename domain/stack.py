"""The Stack aggregate: one event stream per stack name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from uuid import UUID, uuid4

from eventsourcing.domain import BaseAggregate

from domain import stack_events as events
from domain.dependencies import CycleRefused, DependencyNotDeclared, validate_dependencies
from domain.drift import DriftReport, FixMode, ResourceFix
from domain.errors import (
    InvalidInput,
    KeyNotFound,
    StackAlreadyExists,
    StackDestroyed,
)
from domain.events import stamp
from domain.executions import (
    RUNNER_VANISHED,
    ExecutionAlreadyRunning,
    ExecutionNotRunning,
    RunningExecution,
    TaskRecord,
)
from domain.imports import (
    IMPORTED_FROM,
    IMPORTED_TYPE,
    ImportedStack,
    ImportedVersionOutOfOrder,
    ImportRecord,
    is_imported_from,
)
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
from domain.secrets import is_secret, key_id_of
from domain.stack_events import StackStatus
from domain.stack_memento import StackSnapshot
from domain.terraform import TERRAFORM_TYPE, SerialWentBackwards, StateDocument, TerraformState
from domain.timestamps import has_passed
from domain.validation import CheckResult, passed
from domain.values import check_json_value
from domain.versions import (
    SYSTEM_CREATOR,
    SnapshotDeleted,
    SnapshotNotFound,
    StackState,
    VersionMark,
    same_json,
)

__all__ = ["Stack", "StackStatus"]

MAX_DESCRIPTION_LENGTH = 4096


def _validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")
    if any(ord(c) < 32 and c not in "\t\n" for c in description):
        raise InvalidInput("description must not contain control characters")
    return description


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
        running: dict[str, RunningExecution]
        terraform: TerraformState | None
        imports: tuple[str, ...]

    # ---- events (domain/stack_events.py), bound here so the event store registers them ----

    Event: TypeAlias = events.StackEvent
    Created: TypeAlias = events.Created
    Updated: TypeAlias = events.Updated
    Destroyed: TypeAlias = events.Destroyed
    StateSet: TypeAlias = events.StateSet
    StateDeleted: TypeAlias = events.StateDeleted
    OutputSet: TypeAlias = events.OutputSet
    OutputDeleted: TypeAlias = events.OutputDeleted
    SecretsRotated: TypeAlias = events.SecretsRotated
    LockAcquired: TypeAlias = events.LockAcquired
    LockRenewed: TypeAlias = events.LockRenewed
    LockReleased: TypeAlias = events.LockReleased
    LockForceReleased: TypeAlias = events.LockForceReleased
    LockExpired: TypeAlias = events.LockExpired
    SnapshotCreated: TypeAlias = events.SnapshotCreated
    SnapshotDeleted: TypeAlias = events.SnapshotDeleted
    SnapshotRestored: TypeAlias = events.SnapshotRestored
    DependencyAdded: TypeAlias = events.DependencyAdded
    DependencyRemoved: TypeAlias = events.DependencyRemoved
    ValidationPassed: TypeAlias = events.ValidationPassed
    ValidationFailed: TypeAlias = events.ValidationFailed
    ResourceDeclared: TypeAlias = events.ResourceDeclared
    ResourceUpdated: TypeAlias = events.ResourceUpdated
    ResourceRemoved: TypeAlias = events.ResourceRemoved
    DriftDetected: TypeAlias = events.DriftDetected
    DriftChecked: TypeAlias = events.DriftChecked
    DriftFixed: TypeAlias = events.DriftFixed
    ExecutionStarted: TypeAlias = events.ExecutionStarted
    ExecutionRenewed: TypeAlias = events.ExecutionRenewed
    ExecutionCompleted: TypeAlias = events.ExecutionCompleted
    ExecutionFailed: TypeAlias = events.ExecutionFailed
    ExecutionSkipped: TypeAlias = events.ExecutionSkipped
    TerraformStatePushed: TypeAlias = events.TerraformStatePushed
    TerraformStateDeleted: TypeAlias = events.TerraformStateDeleted
    Imported: TypeAlias = events.Imported
    HistoryImported: TypeAlias = events.HistoryImported

    # ---- construction -------------------------------------------------------------------

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
                          resources=dict(sorted(self.resources.items())),
                          terraform=self.terraform)

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

    def rotate_secrets(self, invocation: Invocation, key_id: str, *,
                       values: Mapping[str, Any], outputs: Mapping[str, Any]) -> bool:
        """Replace secret envelopes by ones sealed under the key `key_id` (same plaintext).

        Not held back by a lock: no value changes, only how it is encrypted. Returns False
        (and records nothing) when there is nothing to replace.
        """
        if self.is_destroyed:
            raise StackDestroyed(self.name)
        replaced = {section: {key: envelope for key, envelope in new.items()
                              if is_secret(envelope) and is_secret(current.get(key))
                              and not same_json(current[key], envelope)}
                    for section, new, current in (("values", values, self.values),
                                                  ("outputs", outputs, self.outputs))}
        if not replaced["values"] and not replaced["outputs"]:
            return False
        before = {key_id_of(current[key]) for section, current in (
            ("values", self.values), ("outputs", self.outputs)) for key in replaced[section]}
        fields = self._stamp(invocation)
        for key, envelope in replaced["values"].items():
            self.trigger_event(self.StateSet, key=key, value=envelope, **fields)
        for key, envelope in replaced["outputs"].items():
            self.trigger_event(self.OutputSet, key=key, value=envelope, **fields)
        self.trigger_event(self.SecretsRotated, key_id=key_id,
                           previous_key_ids=sorted(kid for kid in before if kid),
                           values=sorted(replaced["values"]),
                           outputs=sorted(replaced["outputs"]), **fields)
        return True

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
        holder = (validate_lock_text(locked_by or invocation.actor, "locked_by", "lock holder")
                  or invocation.actor)
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
            operation=validate_lock_text(operation, "operation", "operation"),
            reason=validate_lock_text(reason, "reason", "reason"),
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
                           reason=validate_lock_text(reason, "reason", "reason"),
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
        who = (validate_lock_text(creator or invocation.actor, "creator", "snapshot creator")
               or invocation.actor)
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
        for name in wanted:
            if self.resources[name].record_only:
                raise InvalidInput(f"resource '{name}' of stack '{self.name}' is a record of "
                                   f"{_managed_by(self.resources[name])}; nothing observes it",
                                   resource=name)
        return [self.resources[name] for name in dependency_order(self.resources)
                if (not wanted or name in wanted) and not self.resources[name].record_only]

    def record_fix(self, fixes: Sequence[ResourceFix], invocation: Invocation, *,
                   interrupted: bool = False) -> list[ResourceFix]:
        """Record what a fix did to the real world, failures included.

        `interrupted`: the fix was stopped before every planned resource was tried, and
        `fixes` holds those tried before that.
        """
        self._ensure_mutable(invocation)
        self.trigger_event(self.DriftFixed, mode=FixMode.APPLY, resources=list(fixes),
                           interrupted=interrupted, **self._stamp(invocation))
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

    # ---- Terraform state -------------------------------------------------------------------

    def record_terraform_state(self, invocation: Invocation, state: TerraformState,
                               document: StateDocument) -> bool:
        """Hold a new Terraform state document, and follow its outputs and resources.

        Each new document is taken as the next snapshot version. Returns False for the
        document the stack holds already (Terraform writes the same state again when
        nothing changed). A serial below the held one, for the same
        lineage, is refused: that writer worked from an older state.
        """
        self._ensure_mutable(invocation)
        held = self.terraform
        if held is not None and held.sha256 == state.sha256:
            return False
        if held is not None and held.lineage == state.lineage and state.serial < held.serial:
            raise SerialWentBackwards(self.name, held, state.serial)
        fields = self._stamp(invocation)
        self.trigger_event(self.TerraformStatePushed, sha256=state.sha256, serial=state.serial,
                           lineage=state.lineage, terraform_version=state.terraform_version,
                           size=state.size, outputs=list(state.outputs),
                           sensitive=list(state.sensitive), lock_id=invocation.lock_id,
                           **fields)
        self._follow_terraform(held, document.outputs, document.resources, fields)
        # Each state Terraform writes is a version, to compare, show and restore.
        self._take_snapshot(invocation, invocation.actor,
                            f"Terraform state serial {state.serial}")
        return True

    def delete_terraform_state(self, invocation: Invocation) -> TerraformState | None:
        """Hold no Terraform state any more; its outputs and resources go with it."""
        self._ensure_mutable(invocation)
        held = self.terraform
        if held is None:
            return None
        fields = self._stamp(invocation)
        self.trigger_event(self.TerraformStateDeleted, sha256=held.sha256, serial=held.serial,
                           lineage=held.lineage, **fields)
        self._follow_terraform(held, {}, (), fields)
        return held

    def _follow_terraform(self, held: TerraformState | None, outputs: Mapping[str, Any],
                          resources: Sequence[Resource], fields: dict[str, Any]) -> None:
        """Outputs and `terraform` resources as the document has them; the rest stays."""
        for key, value in outputs.items():
            validate_key(key, "output key")
            if key not in self.outputs or not same_json(self.outputs[key], value):
                self.trigger_event(self.OutputSet, key=key, value=value, **fields)
        for key in held.outputs if held is not None else ():
            if key not in outputs and key in self.outputs:
                self.trigger_event(self.OutputDeleted, key=key, **fields)
        others = [r for r in self.resources.values() if r.type != TERRAFORM_TYPE]
        validate_declarations([*others, *resources])
        current = {name: r for name, r in self.resources.items() if r.type == TERRAFORM_TYPE}
        plan = plan_declarations(current, resources)
        for resource in plan.added:
            self.trigger_event(self.ResourceDeclared, **_resource_fields(resource), **fields)
        for update in plan.changed:
            self.trigger_event(self.ResourceUpdated, **_resource_fields(update.resource),
                               changed=list(update.changed), **fields)
        for name in plan.removed:
            self.trigger_event(self.ResourceRemoved, name=name, **fields)

    # ---- imports --------------------------------------------------------------------------

    @classmethod
    def import_stack(cls, imported: ImportedStack, invocation: Invocation) -> Stack:
        """A stack brought in whole from another tool, in one write.

        It is created, then each of its versions is recorded under its own number (the events
        that bring the state to what the version held, then `snapshot.created`), then its
        runs, its last state, its history and its lock, and `stack.imported` says what the
        import read. Every event is the importer's, at the time of the import; the original
        times and actors travel in the events.
        """
        validate_stack_name(imported.name)
        stack = cls._create(cls.Created, id=stack_id(imported.name), name=imported.name,
                            description=_validate_description(imported.description),
                            original_time=imported.created_at, **stamp(invocation))
        fields = stack._stamp(invocation)
        for version in sorted(imported.versions, key=lambda v: v.version):
            if version.version <= stack.last_version:
                raise ImportedVersionOutOfOrder(stack.name, version.version, stack.last_version)
            stack._become(version.state, fields)
            stack.trigger_event(
                cls.SnapshotCreated, version=version.version,
                creator=validate_lock_text(version.creator, "creator", "snapshot creator"),
                description=_validate_description(version.description),
                original_time=version.created_at, **fields)
        for run in imported.runs:
            # The run starts and ends in this write: its lease only has to outlast the write.
            stack.trigger_event(cls.ExecutionStarted, execution_id=run.execution_id,
                                workflow=run.workflow, file=run.file,
                                alive_until=fields["timestamp"] + _IMPORTED_RUN_LEASE,
                                original_time=run.started_at, **fields)
            ended = {"execution_id": run.execution_id, "duration_ms": run.duration_ms,
                     "message": run.message, "original_time": run.finished_at, **fields}
            if run.succeeded:
                stack.trigger_event(cls.ExecutionCompleted, **ended)
            else:
                stack.trigger_event(cls.ExecutionFailed, reason=run.reason, **ended)
        stack._become(imported.state, fields)
        for entry in imported.history:
            stack.trigger_event(cls.HistoryImported, tool=imported.tool, origin=entry.origin,
                                kind=entry.kind, message=entry.message, severity=entry.severity,
                                original_time=entry.time, original_actor=entry.actor,
                                original_source=entry.source, data=entry.data, **fields)
        lock = imported.lock
        locked = lock is not None and not has_passed(lock.expires_at, invocation.at)
        if lock is not None and locked:
            stack.trigger_event(
                cls.LockAcquired, lock_id=lock.lock_id,
                locked_by=validate_lock_text(lock.locked_by, "locked_by", "lock holder"),
                operation=validate_lock_text(lock.operation, "operation", "operation"),
                reason=validate_lock_text(lock.reason, "reason", "reason"),
                metadata=validate_metadata(dict(lock.metadata)), expires_at=lock.expires_at,
                generation=stack.lock_generation + 1, original_time=lock.locked_at,
                original_actor=lock.locked_by, **fields)
        stack.trigger_event(
            cls.Imported, tool=imported.tool, file=imported.file, source_id=imported.source_id,
            import_id=imported.import_id, versions=len(imported.versions),
            runs=len(imported.runs), history=len(imported.history),
            outputs=len(imported.state.outputs), resources=len(imported.state.resources),
            locked=locked, executions=imported.executions, last_run=imported.last_run,
            last_duration_ms=imported.last_duration_ms, notes=list(imported.notes), **fields)
        return stack

    def follow_import(self, invocation: Invocation, record: ImportRecord, *,
                      outputs: Mapping[str, Any], resources: Sequence[Resource]) -> bool:
        """Take in what an import read into this stack: its outputs, and the records of its
        resources (type `imported`, from the same tool; other resources stay as they are).

        Returns False when that changes nothing; nothing is recorded then.
        """
        self._ensure_mutable(invocation)
        for key, value in outputs.items():
            validate_key(key, "output key")
            check_json_value(key, value)
        changed = [key for key, value in outputs.items()
                   if key not in self.outputs or not same_json(self.outputs[key], value)]

        def from_tool(resource: Resource) -> bool:
            return (resource.type == IMPORTED_TYPE
                    and is_imported_from(resource.attributes, record.tool))

        others = [r for r in self.resources.values() if not from_tool(r)]
        validate_declarations([*others, *resources])
        plan = plan_declarations({name: r for name, r in self.resources.items() if from_tool(r)},
                                 resources)
        if not changed and plan.is_empty:
            return False
        fields = self._stamp(invocation)
        for key in changed:
            self.trigger_event(self.OutputSet, key=key, value=outputs[key], **fields)
        self._follow_plan(plan, fields)
        self.trigger_event(self.Imported, tool=record.tool, file=record.file,
                           source_id=record.source_id, import_id=record.import_id,
                           outputs=len(outputs), resources=len(resources),
                           secrets=list(record.secrets), notes=list(record.notes), **fields)
        return True

    def _become(self, state: StackState, fields: dict[str, Any]) -> None:
        """Bring the recorded state to `state`, with the events that say what changed."""
        status = StackStatus(state.status)
        if status in (StackStatus.RUNNING, StackStatus.DESTROYED):
            raise InvalidInput(f"stack '{self.name}': an imported state cannot be {status}")
        description = (_validate_description(state.description)
                       if state.description != self.description else None)
        if description is not None or status is not self.status:
            self.trigger_event(self.Updated, description=description,
                               status=status if status is not self.status else None, **fields)
        for wanted, current, set_event, deleted_event, kind in (
                (state.values, self.values, self.StateSet, self.StateDeleted, "state key"),
                (state.outputs, self.outputs, self.OutputSet, self.OutputDeleted, "output key")):
            for key, value in wanted.items():
                validate_key(key, kind)
                check_json_value(key, value)
                if key not in current or not same_json(current[key], value):
                    self.trigger_event(set_event, key=key, value=value, **fields)
            for key in [key for key in current if key not in wanted]:
                self.trigger_event(deleted_event, key=key, **fields)
        dependencies = validate_dependencies(self.name, state.dependencies)
        for name in [name for name in self.dependencies if name not in dependencies]:
            self.trigger_event(self.DependencyRemoved, depends_on=name, **fields)
        for name in [name for name in dependencies if name not in self.dependencies]:
            self.trigger_event(self.DependencyAdded, depends_on=name, **fields)
        resources = list(state.resources.values())
        validate_declarations(resources)
        self._follow_plan(plan_declarations(self.resources, resources), fields)

    def _follow_plan(self, plan: ResourcePlan, fields: dict[str, Any]) -> None:
        for resource in plan.added:
            self.trigger_event(self.ResourceDeclared, **_resource_fields(resource), **fields)
        for update in plan.changed:
            self.trigger_event(self.ResourceUpdated, **_resource_fields(update.resource),
                               changed=list(update.changed), **fields)
        for name in plan.removed:
            self.trigger_event(self.ResourceRemoved, name=name, **fields)

    # ---- executions -----------------------------------------------------------------------

    def start_execution(self, invocation: Invocation, *, execution_id: str, workflow: str,
                        lease: timedelta, version: str = "", file: str = "",
                        file_sha256: str = "", tasks: Sequence[str] = (),
                        parameters: Mapping[str, Any] | None = None,
                        snapshot_version: int | None = None) -> RunningExecution:
        """Record that a run of a workflow begins.

        A run that presents the stack's lock holds it for its length: the lock is its lease.
        Without one, the run's own lease lasts `lease` and is renewed by `renew_execution`.
        """
        self._ensure_mutable(invocation)
        if execution_id in self.running:
            raise ExecutionAlreadyRunning(self.name, execution_id)
        validate_ttl(lease)
        held = self.held_lock(invocation.at)
        holds = held is not None and invocation.lock_id == held.lock_id
        fields = self._stamp(invocation)
        self.trigger_event(
            self.ExecutionStarted, execution_id=execution_id, workflow=workflow,
            version=version, file=file, file_sha256=file_sha256, tasks=list(tasks),
            parameters=dict(parameters or {}), lock_id=held.lock_id if held and holds else None,
            alive_until=held.expires_at if held and holds else fields["timestamp"] + lease,
            snapshot_version=snapshot_version, **fields)
        return self.running[execution_id]

    def renew_execution(self, invocation: Invocation, execution_id: str,
                        lease: timedelta) -> RunningExecution:
        """Extend the lease of a run that holds no lock (a lock is renewed as a lock)."""
        run = self._running(execution_id)
        validate_ttl(lease)
        fields = self._stamp(invocation)
        self.trigger_event(self.ExecutionRenewed, execution_id=execution_id,
                           alive_until=fields["timestamp"] + lease, **fields)
        return self.running[run.execution_id]

    def finish_execution(self, invocation: Invocation, execution_id: str, *, succeeded: bool,
                         duration_ms: int, tasks: Sequence[TaskRecord] = (), message: str = "",
                         reason: str = "failed", rolled_back_to: int | None = None) -> None:
        """Record how a run ended. What happened is recorded whoever holds the lock now."""
        self._running(execution_id)
        fields = self._stamp(invocation)
        if succeeded:
            self.trigger_event(self.ExecutionCompleted, execution_id=execution_id,
                               duration_ms=duration_ms, tasks=list(tasks), message=message,
                               **fields)
        else:
            self.trigger_event(self.ExecutionFailed, execution_id=execution_id,
                               duration_ms=duration_ms, tasks=list(tasks), message=message,
                               reason=reason, rolled_back_to=rolled_back_to, **fields)

    def skip_execution(self, invocation: Invocation, *, execution_id: str, workflow: str,
                       reason: str, blocked_by: Sequence[str] = ()) -> None:
        """Record a run that was not started here (a stack it depends on failed its run).

        Nothing changes on the stack, so it is recorded whoever holds the lock.
        """
        self.trigger_event(self.ExecutionSkipped, execution_id=execution_id,
                           workflow=workflow, reason=reason, blocked_by=list(blocked_by),
                           **self._stamp(invocation))

    def vanished_executions(self, at: datetime) -> list[RunningExecution]:
        """Runs whose lease lapsed by `at` without their having ended."""
        return [run for run in self.running.values() if run.vanished(at)]

    def _running(self, execution_id: str) -> RunningExecution:
        run = self.running.get(execution_id)
        if run is None:
            raise ExecutionNotRunning(self.name, execution_id)
        return run

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Every change first records the runs whose lease lapsed: their runner vanished."""
        at = kwargs.get("timestamp")
        if at is not None and getattr(self, "running", None) and event_class is not \
                self.ExecutionFailed:
            for run in self.vanished_executions(at):
                super().trigger_event(
                    self.ExecutionFailed, execution_id=run.execution_id,
                    duration_ms=_milliseconds(run.alive_until - run.started_at),
                    reason=RUNNER_VANISHED,
                    message=f"its lease lapsed at {run.alive_until:%Y-%m-%d %H:%M:%S} UTC "
                            "without the run having ended",
                    **{key: kwargs[key] for key in _STAMP if key in kwargs})
        super().trigger_event(event_class, **kwargs)

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



def _managed_by(resource: Resource) -> str:
    if resource.type == IMPORTED_TYPE:
        return f"what an import from {resource.attributes.get(IMPORTED_FROM, 'elsewhere')} found"
    return f"what {resource.type} manages"


def _resource_fields(resource: Resource) -> dict[str, Any]:
    return {"name": resource.name, "type": resource.type, "attributes": resource.attributes,
            "depends_on": list(resource.depends_on), "record_only": resource.record_only}


_STAMP = ("timestamp", "actor", "source", "correlation_id")

_IMPORTED_RUN_LEASE = timedelta(seconds=1)


def _milliseconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds() * 1000), 0)
