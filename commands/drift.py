"""Drift: observing and repairing the real world through resource providers.

The providers (files, directories, command probes, plug-ins) live in `infrastructure/`; the
write side sees them only through `ResourceProviders`. What they find or do is handed to the
Stack aggregate, which records it as events. `DriftProcess` is the use case every front door
calls: detect, observe, fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from domain.drift import (
    DriftReport,
    DriftStatus,
    FixMode,
    ResourceDrift,
    ResourceFix,
    assess,
    fix_outcome,
    skipped,
    unreadable,
)
from domain.errors import InvalidInput
from domain.invocation import Invocation
from domain.resources import Resource

if TYPE_CHECKING:
    from commands.models import DetectDrift, FixDrift
    from commands.outcome import Outcome
    from commands.service import StackService
    from domain.stack import Stack


class ResourceProviders(Protocol):
    """The providers of every resource type, as the write side uses them."""

    def normalize(self, resource: Resource) -> Resource:
        """The resource with its attributes validated for its type (InvalidInput if not)."""

    def expected(self, resource: Resource) -> dict[str, Any]:
        """The observable attributes the desired state implies."""

    def read(self, resource: Resource) -> dict[str, Any]:
        """Observe the real world; raise with a reason when it cannot be read."""

    def apply(self, resource: Resource) -> None:
        """Make the real world match the desired state; raise with a reason on failure."""

    def adopt(self, resource: Resource, observed: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes that make the observed state the desired one."""

    def parallel(self, resource: Resource) -> bool:
        """Whether reading the resource waits on something outside (it may run in a thread)."""


class FixPlan(BaseModel):
    """What a fix is about to act on: every selected resource that is not in sync."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: FixMode
    resources: tuple[ResourceDrift, ...]
    checked: int
    """How many resources were observed to make the plan."""


def failure_reason(error: BaseException) -> str:
    """One line saying why a provider could not read or change something."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def observe_one(resource: Resource, providers: ResourceProviders) -> ResourceDrift:
    try:
        expected = providers.expected(resource)
        observed = providers.read(resource)
    except Exception as error:  # a probe that cannot read marks its resource, nothing more
        return unreadable(resource, failure_reason(error))
    return assess(resource, expected, observed)


def _types_read_in_parallel(resources: Sequence[Resource],
                            providers: ResourceProviders) -> set[str]:
    first_of_type = {resource.type: resource for resource in reversed(resources)}
    parallel = set()
    for type_name, resource in first_of_type.items():
        try:
            if providers.parallel(resource):
                parallel.add(type_name)
        except Exception:  # an unknown type: observing it says why, in this thread
            continue
    return parallel


def observe(resources: Iterable[Resource], providers: ResourceProviders, *,
            concurrency: int = 1) -> DriftReport:
    """Observe each resource; one that cannot be read is `unknown`, the others still count.

    Resources whose reads wait on something outside (command probes) are observed up to
    `concurrency` at a time, while this thread observes the others; the report keeps the
    order of `resources`.
    """
    resources = list(resources)
    parallel = _types_read_in_parallel(resources, providers) if concurrency > 1 else set()
    waiting = [i for i, r in enumerate(resources) if r.type in parallel]
    if len(waiting) < 2:
        return DriftReport(resources=tuple(observe_one(r, providers) for r in resources))
    from concurrent.futures import ThreadPoolExecutor

    found: list[ResourceDrift | None] = [None] * len(resources)
    pool = ThreadPoolExecutor(max_workers=min(concurrency, len(waiting)),
                              thread_name_prefix="probe")
    try:
        futures = {i: pool.submit(observe_one, resources[i], providers) for i in waiting}
        for i, resource in enumerate(resources):
            if i not in futures:
                found[i] = observe_one(resource, providers)
        for i, future in futures.items():
            found[i] = future.result()
    finally:
        # Interrupted, probes not yet started are dropped; running ones end by their timeout.
        pool.shutdown(wait=True, cancel_futures=True)
    return DriftReport(resources=tuple(drift for drift in found if drift is not None))


def repair(targets: Sequence[ResourceDrift], resources: Mapping[str, Resource],
           providers: ResourceProviders) -> Iterator[ResourceFix]:
    """Apply the desired state to each target (dependencies first) and observe it again.

    Yields each resource's fix as soon as it is done. A resource whose dependency could not
    be fixed is skipped, not attempted.
    """
    not_fixed: set[str] = set()
    for before in targets:
        resource = resources[before.name]
        blocker = next((name for name in resource.depends_on if name in not_fixed), None)
        if blocker is not None:
            yield skipped(before, blocker)
            not_fixed.add(resource.name)
            continue
        error = ""
        try:
            providers.apply(resource)
        except Exception as exc:  # recorded as this resource's failure; the others go on
            error = failure_reason(exc)
        fix = fix_outcome(before, observe_one(resource, providers), mode=FixMode.APPLY,
                          error=error)
        if not fix.succeeded:
            not_fixed.add(resource.name)
        yield fix


def adopt(targets: Sequence[ResourceDrift], resources: Mapping[str, Resource],
          providers: ResourceProviders) -> tuple[list[Resource], list[ResourceFix]]:
    """The declarations that make each target's observed state its desired state.

    Nothing in the real world is changed. A resource whose state is unknown cannot be
    adopted.
    """
    adopted: list[Resource] = []
    fixes: list[ResourceFix] = []
    for before in targets:
        resource = resources[before.name]
        if before.status is DriftStatus.UNKNOWN or before.observed is None:
            fixes.append(fix_outcome(before, before, mode=FixMode.ACCEPT,
                                     error=f"its state is unknown ({before.reason})"))
            continue
        try:
            attributes = providers.adopt(resource, before.observed)
            candidate = providers.normalize(Resource(
                name=resource.name, type=resource.type, attributes=attributes,
                depends_on=resource.depends_on))
        except Exception as exc:  # this resource cannot be adopted; the others can
            fixes.append(fix_outcome(before, before, mode=FixMode.ACCEPT,
                                     error=failure_reason(exc)))
            continue
        fix = fix_outcome(before, observe_one(candidate, providers), mode=FixMode.ACCEPT)
        if fix.succeeded:
            adopted.append(candidate)
        fixes.append(fix)
    return adopted, fixes


def _approve(plan: FixPlan) -> bool:
    return True


class DriftProcess:
    """Detect and fix drift on a stack, recording what was found and what was done."""

    def __init__(self, service: StackService, providers: ResourceProviders | None, *,
                 concurrency: int = 1) -> None:
        self.service = service
        self._providers = providers
        self.concurrency = concurrency
        """How many probes that wait on the outside (commands) may run at once."""

    def providers(self) -> ResourceProviders:
        if self._providers is None:
            raise InvalidInput("no resource types are available to this command")
        return self._providers

    def detect(self, command: DetectDrift, invocation: Invocation) -> Outcome:
        """Observe every resource and record the report (`drift.detected` or `drift.checked`)."""
        stack = self.service.load(command.stack)
        declared = dict(stack.resources)
        report = observe(stack.select_resources(invocation), self.providers(),
                         concurrency=self.concurrency)
        return self.service.change(command.stack, invocation, lambda stack, inv: {
            "report": stack.record_drift(report, inv, against=declared)})

    def observe(self, name: str, invocation: Invocation) -> DriftReport:
        """Observe every declared resource now, recording nothing (a pre-flight look)."""
        stack = self.service.load(name)
        return observe(stack.select_resources(invocation), self.providers(),
                       concurrency=self.concurrency)

    def fix(self, command: FixDrift, invocation: Invocation,
            confirm: Callable[[FixPlan], bool] = _approve) -> Outcome:
        """Observe, let `confirm` see the plan, then repair (or adopt) and record the outcome.

        Under `auto_lock` the lock is held (and renewed) from the observation until the
        outcome is recorded, so nobody changes the stack in between. Bad names and a
        destroyed stack are refused before any lock is taken. Interrupted (Ctrl-C) while
        repairing, what was already done is recorded before the interruption goes on.
        """
        from commands.outcome import Outcome

        name = command.stack
        mode = FixMode.ACCEPT if command.accept else FixMode.APPLY
        stack = self.service.load(name)
        stack.select_resources(invocation, command.resources)
        if command.dry_run:
            plan = self._plan(stack, invocation, command, mode, for_change=False)
            return Outcome(name, str(stack.id), stack.version, [],
                           {"plan": plan, "dry_run": True, "cancelled": False, "fixes": []})
        with self.service.auto_locked(name, invocation, "drift fix") as (inv, _):
            stack = self.service.load(name)
            plan = self._plan(stack, inv.model_copy(update={"at": self.service.clock()}),
                              command, mode, for_change=True)
            detail: dict[str, Any] = {"plan": plan, "dry_run": False, "cancelled": False,
                                      "fixes": []}
            if not plan.resources:
                return Outcome(name, str(stack.id), stack.version, [], detail)
            if not confirm(plan):
                return Outcome(name, str(stack.id), stack.version, [],
                               {**detail, "cancelled": True})
            declared = dict(stack.resources)
            if self.service.auto_snapshot:
                # Under the lock, after the plan was approved, before anything outside or in
                # the declarations changes: the state to come back to if the fix goes wrong.
                backup = self.service.change(name, inv, lambda stack, inv: {
                    "snapshot": stack.snapshot_by_system(inv, "Automatic snapshot before drift fix")})
                detail["snapshot"] = backup.detail["snapshot"]
            if command.accept:
                adopted, fixes = adopt(plan.resources, declared, self.providers())
                outcome = self.service.change(name, inv, lambda stack, inv: {
                    "fixes": stack.accept_drift(adopted, fixes, inv, against=declared)})
            else:
                outcome = self._repair(name, inv, plan, declared)
            return Outcome(outcome.stack, outcome.stack_id, outcome.version, outcome.events,
                           {**detail, **outcome.detail})

    def _repair(self, name: str, invocation: Invocation, plan: FixPlan,
                declared: Mapping[str, Resource]) -> Outcome:
        done: list[ResourceFix] = []
        try:
            for fix in repair(plan.resources, declared, self.providers()):
                done.append(fix)
        except KeyboardInterrupt:
            # The real world has changed for what is done: the log must say so.
            self.service.change(name, invocation, lambda stack, inv: {
                "fixes": stack.record_fix(done, inv, interrupted=True)})
            raise
        return self.service.change(name, invocation, lambda stack, inv: {
            "fixes": stack.record_fix(done, inv)})

    def _plan(self, stack: Stack, invocation: Invocation, command: FixDrift,
              mode: FixMode, *, for_change: bool) -> FixPlan:
        targets = stack.select_resources(invocation, command.resources, for_change=for_change)
        report = observe(targets, self.providers(), concurrency=self.concurrency)
        return FixPlan(mode=mode, resources=report.out_of_sync, checked=len(targets))
