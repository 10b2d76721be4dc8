"""The events of a stack's stream: facts, named in the past tense, each with a stable topic.

They are bound to the `Stack` aggregate as its nested event classes (`Stack.Created`, ...),
which is how the event store registers their topics. Each one's `apply` is how the aggregate's
state follows from it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate

from domain.drift import FixMode, ResourceDrift, ResourceFix
from domain.events import DomainEvent, imported_only
from domain.executions import RunningExecution, TaskRecord
from domain.locks import LockInfo
from domain.resources import Resource
from domain.terraform import TerraformState
from domain.validation import CheckResult
from domain.versions import StackState, VersionMark

if TYPE_CHECKING:
    from domain.stack import Stack


class StackStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    DESTROYED = "destroyed"


class StackEvent(DomainEvent):
    """An event in one stack's stream."""


class Created(StackEvent, CanInitAggregate[UUID]):
    """The stack was created, or created again after it had been destroyed."""

    TOPIC: ClassVar[str] = "stack.created"
    originator_topic: str
    name: str
    description: str = ""
    original_time: datetime | None = imported_only()
    """When the tool it was imported from created it (an imported stack only)."""

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
        stack.created_at = self.original_time or self.timestamp
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
        # A run that was going on when the stack was destroyed still ends on its record.
        stack.running = getattr(stack, "running", {})
        stack.terraform = None
        stack.imports = getattr(stack, "imports", ())


class Updated(StackEvent):
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


class Destroyed(StackEvent):
    TOPIC: ClassVar[str] = "stack.destroyed"
    reason: str = ""

    def apply(self, aggregate: Any) -> None:
        stack: Stack = aggregate
        stack.status = StackStatus.DESTROYED
        stack.destroyed_at = self.timestamp


class StateSet(StackEvent):
    TOPIC: ClassVar[str] = "state.set"
    key: str
    value: Any

    def apply(self, aggregate: Any) -> None:
        aggregate.values[self.key] = self.value


class StateDeleted(StackEvent):
    TOPIC: ClassVar[str] = "state.deleted"
    key: str

    def apply(self, aggregate: Any) -> None:
        del aggregate.values[self.key]


class OutputSet(StackEvent):
    TOPIC: ClassVar[str] = "output.set"
    key: str
    value: Any

    def apply(self, aggregate: Any) -> None:
        aggregate.outputs[self.key] = self.value


class OutputDeleted(StackEvent):
    TOPIC: ClassVar[str] = "output.deleted"
    key: str

    def apply(self, aggregate: Any) -> None:
        del aggregate.outputs[self.key]


class SecretsRotated(StackEvent):
    """The stack's secret values were sealed again under another key (their plaintext did not
    change); the `state.set` and `output.set` events before this one carry the new envelopes."""

    TOPIC: ClassVar[str] = "secrets.rotated"
    key_id: str
    previous_key_ids: list[str] = []
    values: list[str] = []
    outputs: list[str] = []

    def apply(self, aggregate: Any) -> None:
        """The envelopes came with the events before it; this records why."""


class LockAcquired(StackEvent):
    TOPIC: ClassVar[str] = "lock.acquired"
    lock_id: str
    locked_by: str
    operation: str = ""
    reason: str = ""
    metadata: dict[str, str] = {}
    expires_at: datetime
    generation: int
    original_time: datetime | None = imported_only()
    original_actor: str | None = imported_only()
    """An imported lock: when, and by whom, it was taken in the tool it came from."""

    def apply(self, aggregate: Any) -> None:
        aggregate.lock = LockInfo(
            lock_id=self.lock_id, locked_by=self.locked_by,
            acquired_by_actor=self.original_actor or self.actor,
            locked_at=self.original_time or self.timestamp, expires_at=self.expires_at,
            operation=self.operation,
            reason=self.reason, metadata=self.metadata, generation=self.generation,
        )
        aggregate.lock_generation = self.generation


class LockRenewed(StackEvent):
    TOPIC: ClassVar[str] = "lock.renewed"
    lock_id: str
    expires_at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.lock = aggregate.lock.model_copy(update={"expires_at": self.expires_at})
        _lease_of_runs(aggregate, self.lock_id, self.expires_at)


class LockReleased(StackEvent):
    TOPIC: ClassVar[str] = "lock.released"
    lock_id: str
    released_by: str

    def apply(self, aggregate: Any) -> None:
        aggregate.lock = None
        _lease_of_runs(aggregate, self.lock_id, self.timestamp)


class LockForceReleased(StackEvent):
    """Someone who did not hold the lock removed it; who and why are on record."""

    TOPIC: ClassVar[str] = "lock.force_released"
    lock_id: str
    holder: str
    reason: str = ""

    def apply(self, aggregate: Any) -> None:
        aggregate.lock = None
        _lease_of_runs(aggregate, self.lock_id, self.timestamp)


class LockExpired(StackEvent):
    """The lease ran out unreleased; recorded when someone takes the stack over."""

    TOPIC: ClassVar[str] = "lock.expired"
    lock_id: str
    holder: str
    expired_at: datetime

    def apply(self, aggregate: Any) -> None:
        aggregate.lock = None
        _lease_of_runs(aggregate, self.lock_id, self.timestamp)


class SnapshotCreated(StackEvent):
    """Version N now names the stack's state at this event's position."""

    TOPIC: ClassVar[str] = "snapshot.created"
    version: int
    creator: str
    description: str = ""
    original_time: datetime | None = imported_only()
    """An imported version: when the tool it came from took it."""

    def apply(self, aggregate: Any) -> None:
        aggregate.versions = {**aggregate.versions, self.version: VersionMark(
            version=self.version, position=self.originator_version, creator=self.creator,
            description=self.description, created_at=self.original_time or self.timestamp)}
        aggregate.last_version = self.version


class SnapshotDeleted(StackEvent):
    """The version is withdrawn; its number is never reused and its history stays."""

    TOPIC: ClassVar[str] = "snapshot.deleted"
    version: int

    def apply(self, aggregate: Any) -> None:
        mark = aggregate.versions[self.version]
        aggregate.versions = {**aggregate.versions, self.version: mark.model_copy(
            update={"deleted_at": self.timestamp, "deleted_by": self.actor})}


class SnapshotRestored(StackEvent):
    """The stack's state was rolled forward to what version N held (carried in full)."""

    TOPIC: ClassVar[str] = "snapshot.restored"
    version: int
    state: StackState

    def apply(self, aggregate: Any) -> None:
        stack: Stack = aggregate
        stack.description = self.state.description
        restored = StackStatus(self.state.status)
        if getattr(stack, "running", None):
            restored = StackStatus.RUNNING  # a run is going on now, whatever the version had
        elif restored is StackStatus.RUNNING:
            restored = stack.status  # a version taken mid-run does not bring a run back
        stack.status = restored
        stack.destroyed_at = self.timestamp if stack.status is StackStatus.DESTROYED else None
        stack.values = dict(self.state.values)
        stack.outputs = dict(self.state.outputs)
        stack.dependencies = list(self.state.dependencies)
        stack.resources = dict(self.state.resources)
        stack.terraform = self.state.terraform


# ---- dependency and validation events ------------------------------------------------

class DependencyAdded(StackEvent):
    """The stack now depends on another (which may not exist yet)."""

    TOPIC: ClassVar[str] = "stack.dependency.added"
    depends_on: str

    def apply(self, aggregate: Any) -> None:
        aggregate.dependencies.append(self.depends_on)


class DependencyRemoved(StackEvent):
    TOPIC: ClassVar[str] = "stack.dependency.removed"
    depends_on: str

    def apply(self, aggregate: Any) -> None:
        aggregate.dependencies.remove(self.depends_on)


class ValidationPassed(StackEvent):
    """Pre-flight validation found nothing that fails (warnings may be among the checks)."""

    TOPIC: ClassVar[str] = "validation.passed"
    checks: list[CheckResult]

    def apply(self, aggregate: Any) -> None:
        """A record of who validated what; the stack's state does not change."""


class ValidationFailed(StackEvent):
    TOPIC: ClassVar[str] = "validation.failed"
    checks: list[CheckResult]

    def apply(self, aggregate: Any) -> None:
        """A record of who validated what; the stack's state does not change."""


# ---- resource and drift events -------------------------------------------------------

class ResourceDeclaration(StackEvent):
    """What declared and updated resources have in common (no stored event has this type).

    `resource.declared` and `resource.updated` are siblings, so that a handler of one never
    receives the other by inheritance.
    """

    name: str
    type: str
    attributes: dict[str, Any] = {}
    depends_on: list[str] = []
    record_only: bool = False
    """A record of something another tool manages; drift never observes it."""

    def apply(self, aggregate: Any) -> None:
        aggregate.resources[self.name] = Resource(
            name=self.name, type=self.type, attributes=self.attributes,
            depends_on=tuple(self.depends_on), record_only=self.record_only)


class ResourceDeclared(ResourceDeclaration):
    """The stack now declares a resource: what the real world should look like."""

    TOPIC: ClassVar[str] = "resource.declared"


class ResourceUpdated(ResourceDeclaration):
    """A declared resource's type, attributes or dependencies changed."""

    TOPIC: ClassVar[str] = "resource.updated"
    changed: list[str] = []


class ResourceRemoved(StackEvent):
    """The stack no longer declares the resource (the real world is left as it is)."""

    TOPIC: ClassVar[str] = "resource.removed"
    name: str

    def apply(self, aggregate: Any) -> None:
        del aggregate.resources[self.name]


class DriftObservation(StackEvent):
    """What an observation of the real world found (no stored event has this type).

    `checked` resources were observed -- every one the stack declared -- and `resources`
    are those not in sync; all the others were. Only differences are kept: the log is
    forever, and replaying a stack should not grow with the size of its observations.
    `drift.detected` and `drift.checked` are siblings, so that a handler of one never
    receives the other by inheritance.
    """

    checked: int
    resources: list[ResourceDrift]

    def apply(self, aggregate: Any) -> None:
        """An observation changes no desired state."""


class DriftDetected(DriftObservation):
    """The real world was observed and some resources do not match, or could not be read."""

    TOPIC: ClassVar[str] = "drift.detected"


class DriftChecked(DriftObservation):
    """The real world was observed and every resource matches."""

    TOPIC: ClassVar[str] = "drift.checked"


class DriftFixed(StackEvent):
    """A fix ran: what it changed, and what observing each resource afterwards found."""

    TOPIC: ClassVar[str] = "drift.fixed"
    mode: FixMode
    resources: list[ResourceFix]
    interrupted: bool = False
    """The fix was stopped (Ctrl-C) before every planned resource was tried: `resources`
    holds those tried before that."""

    def apply(self, aggregate: Any) -> None:
        """The real world changed, or `resource.updated` events adopted it."""


# ---- Terraform state events ---------------------------------------------------------

class TerraformStatePushed(StackEvent):
    """Terraform wrote a new state document (stored apart from the log, by its sha256).

    The outputs and `terraform` resources it brings follow as their own events.
    """

    TOPIC: ClassVar[str] = "terraform.state.pushed"
    sha256: str
    serial: int
    lineage: str
    terraform_version: str = ""
    size: int
    outputs: list[str] = []
    sensitive: list[str] = []
    lock_id: str | None = None
    """The lock Terraform presented with the push, if any."""

    def apply(self, aggregate: Any) -> None:
        aggregate.terraform = TerraformState(
            sha256=self.sha256, serial=self.serial, lineage=self.lineage,
            terraform_version=self.terraform_version, size=self.size,
            outputs=tuple(self.outputs), sensitive=tuple(self.sensitive))


class TerraformStateDeleted(StackEvent):
    """Terraform deleted the state: the stack holds no document (the history keeps them)."""

    TOPIC: ClassVar[str] = "terraform.state.deleted"
    sha256: str
    serial: int
    lineage: str

    def apply(self, aggregate: Any) -> None:
        aggregate.terraform = None


# ---- execution events ----------------------------------------------------------------

class ExecutionStarted(StackEvent):
    """A run of a workflow began against the stack."""

    TOPIC: ClassVar[str] = "stack.execution.started"
    execution_id: str
    workflow: str
    version: str = ""
    file: str = ""
    file_sha256: str = ""
    tasks: list[str] = []
    parameters: dict[str, Any] = {}
    lock_id: str | None = None
    """The stack lock the run holds, when its workflow requires one."""
    alive_until: datetime
    """Until when its lease keeps the run alive (the lock's expiry, when it holds one)."""
    snapshot_version: int | None = None
    """The snapshot taken before the run, when its workflow asks for one."""
    original_time: datetime | None = imported_only()
    """An imported run: when it started in the tool it came from."""

    def apply(self, aggregate: Any) -> None:
        aggregate.running = {**aggregate.running, self.execution_id: RunningExecution(
            execution_id=self.execution_id, workflow=self.workflow, started_at=self.timestamp,
            lock_id=self.lock_id, alive_until=self.alive_until)}
        aggregate.status = StackStatus.RUNNING


class ExecutionRenewed(StackEvent):
    """A run without a lock of its own said it is still alive, extending its lease."""

    TOPIC: ClassVar[str] = "stack.execution.renewed"
    execution_id: str
    alive_until: datetime

    def apply(self, aggregate: Any) -> None:
        run = aggregate.running[self.execution_id]
        aggregate.running = {**aggregate.running, self.execution_id: run.model_copy(
            update={"alive_until": self.alive_until})}


class ExecutionEnded(StackEvent):
    """What completed and failed runs record alike (no stored event has this type)."""

    execution_id: str
    duration_ms: int
    tasks: list[TaskRecord] = []
    message: str = ""
    original_time: datetime | None = imported_only()
    """An imported run: when it ended in the tool it came from."""

    def apply(self, aggregate: Any) -> None:
        running = dict(aggregate.running)
        running.pop(self.execution_id, None)
        aggregate.running = running
        if running:
            aggregate.status = StackStatus.RUNNING
        elif aggregate.status is not StackStatus.DESTROYED:
            aggregate.status = self.outcome()

    def outcome(self) -> StackStatus:
        raise NotImplementedError


class ExecutionCompleted(ExecutionEnded):
    """A run ended with every task done."""

    TOPIC: ClassVar[str] = "stack.execution.completed"

    def outcome(self) -> StackStatus:
        return StackStatus.COMPLETED


class ExecutionFailed(ExecutionEnded):
    """A run ended without every task done: a task failed, it timed out, it was interrupted,
    or its runner vanished."""

    TOPIC: ClassVar[str] = "stack.execution.failed"
    reason: str = "failed"
    rolled_back_to: int | None = None
    """The snapshot the stack's recorded state was restored to, after the failure."""

    def outcome(self) -> StackStatus:
        return StackStatus.FAILED


class ExecutionSkipped(StackEvent):
    """A run was not started on this stack, because a run on a stack it depends on failed."""

    TOPIC: ClassVar[str] = "stack.execution.skipped"
    execution_id: str
    workflow: str
    reason: str
    blocked_by: list[str] = []

    def apply(self, aggregate: Any) -> None:
        """Nothing ran: the stack's state and status stay as they were."""


# ---- import events --------------------------------------------------------------------

class Imported(StackEvent):
    """What an import read into the stack, from where (recorded after what it brought)."""

    TOPIC: ClassVar[str] = "stack.imported"
    tool: str
    """`go` (the original Go sloth-runner), `pulumi`."""
    file: str
    """The file it was read from."""
    source_id: str = ""
    """The stack's id, or name, in that tool."""
    import_id: str
    """A digest of what was read: the same source is recognised when imported again."""
    versions: int = 0
    runs: int = 0
    history: int = 0
    outputs: int = 0
    resources: int = 0
    locked: bool = False
    secrets: list[str] = []
    """Outputs whose values were secret: recorded as a marker, never as the value."""
    executions: int | None = None
    """How many runs the source counted, and its last run: what `stack list` shows."""
    last_run: datetime | None = None
    last_duration_ms: int | None = None
    notes: list[str] = []
    """What was adjusted or left out, and why."""

    def apply(self, aggregate: Any) -> None:
        aggregate.imports = (*getattr(aggregate, "imports", ()), self.import_id)


class HistoryImported(StackEvent):
    """A line of the history another tool kept about the stack, with its own time and actor."""

    TOPIC: ClassVar[str] = "history.imported"
    tool: str
    origin: str
    """Where that tool kept it (the Go tool: `state_events`, `state_activity`)."""
    kind: str
    message: str = ""
    severity: str = "info"
    original_time: datetime | None = imported_only()
    original_actor: str
    original_source: str = ""
    data: dict[str, Any] = {}

    def apply(self, aggregate: Any) -> None:
        """A record of the past; the stack's state does not change."""


def _lease_of_runs(stack: Any, lock_id: str, until: datetime) -> None:
    """Runs that hold this lock live as long as it does."""
    running = getattr(stack, "running", {})
    if any(run.lock_id == lock_id for run in running.values()):
        stack.running = {key: run.model_copy(update={"alive_until": until})
                         if run.lock_id == lock_id else run for key, run in running.items()}
