"""Pre-flight validation: small checks over the facts about one stack, and their verdict.

Each check is a pure function of `StackFacts` returning one `CheckResult`; `CHECKS` is the
list `stack validate` runs. The facts are gathered from the read models by the read side,
so adding a check means adding a fact and a function here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.dependencies import format_path
from domain.invocation import Invocation
from domain.resources import Resource
from domain.wording import agreeing, plural


class CheckStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class CheckResult(BaseModel):
    """The outcome of one check, with the reason a person can act on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str
    status: CheckStatus
    reason: str


@dataclass(frozen=True)
class DependencyFacts:
    """One stack in the closure of the validated stack's dependencies."""

    name: str
    status: str | None
    """The stack's status, or None when no stack of that name exists."""
    required_by: tuple[str, ...]


@dataclass(frozen=True)
class LockFacts:
    locked_by: str
    operation: str
    expires_at: datetime
    held_by_caller: bool


@dataclass(frozen=True)
class StackFacts:
    """What the checks know about one stack, as the read models had it."""

    name: str
    status: str
    destroyed_at: datetime | None = None
    dependency_count: int = 0
    """How many stacks it depends on, directly or transitively."""
    dependencies: tuple[DependencyFacts, ...] = ()
    """Those of them a check reports (missing, destroyed or last failed), with what requires
    each; the others need no more than counting."""
    cycles: tuple[tuple[str, ...], ...] = ()
    """Dependency cycles among the stack and its dependencies."""
    lock: LockFacts | None = None
    """The lock that protects the stack now (an expired lease is None)."""
    config_path: str | None = None
    config_problem: str | None = None
    resources_declared: int = 0
    resource_problems: tuple[str, ...] = ()
    """Why declared resources are not valid for their type (as the providers see it now)."""
    drift: tuple[str, ...] | None = None
    """Resources not in sync with their desired state; None when drift was not checked."""


@dataclass(frozen=True)
class ValidationContext:
    """Who validates, and what the checks know about the environment they run in."""

    invocation: Invocation
    config_path: str | None = None
    config_problem: str | None = None
    resource_problem: Callable[[Resource], str | None] = lambda resource: None
    """Why a declared resource is not valid for its type now (None when it is)."""
    observe_drift: Callable[[str], tuple[str, ...]] | None = None
    """When drift is checked: what is out of sync in a stack, observed now."""


Check = Callable[[StackFacts], CheckResult]


def _result(check: str, problems: Sequence[str], ok: str,
            status: CheckStatus = CheckStatus.FAIL) -> CheckResult:
    if problems:
        return CheckResult(check=check, status=status, reason="; ".join(problems))
    return CheckResult(check=check, status=CheckStatus.PASS, reason=ok)


def _needed(dependency: DependencyFacts) -> str:
    return f"required by {', '.join(dependency.required_by)}"


def check_stack(facts: StackFacts) -> CheckResult:
    """The stack exists and is not destroyed."""
    if facts.status == "destroyed":
        when = f" at {facts.destroyed_at:%Y-%m-%d %H:%M:%S} UTC" if facts.destroyed_at else ""
        return CheckResult(check="stack", status=CheckStatus.FAIL,
                           reason=f"stack '{facts.name}' was destroyed{when}")
    return CheckResult(check="stack", status=CheckStatus.PASS,
                       reason=f"exists (status {facts.status})")


def check_dependencies_exist(facts: StackFacts) -> CheckResult:
    missing = [f"'{d.name}' does not exist ({_needed(d)})"
               for d in facts.dependencies if d.status is None]
    count = facts.dependency_count
    return _result("dependencies exist", missing,
                   "no dependencies" if not count else f"{count} checked, none missing")


def check_dependencies_not_destroyed(facts: StackFacts) -> CheckResult:
    destroyed = [f"'{d.name}' is destroyed ({_needed(d)})"
                 for d in facts.dependencies if d.status == "destroyed"]
    return _result("dependencies not destroyed", destroyed, "none is destroyed")


def check_dependencies_acyclic(facts: StackFacts) -> CheckResult:
    cycles = [f"cycle {format_path(cycle)}" for cycle in facts.cycles]
    return _result("dependencies acyclic", cycles, "no cycle")


def check_dependencies_did_not_fail(facts: StackFacts) -> CheckResult:
    failed = [f"'{d.name}' last failed ({_needed(d)})"
              for d in facts.dependencies if d.status == "failed"]
    return _result("dependencies did not fail", failed, "none last failed")


def check_lock(facts: StackFacts) -> CheckResult:
    """Someone else's lock does not fail validation, but a run would be refused: warn."""
    lock = facts.lock
    if lock is None:
        return CheckResult(check="lock", status=CheckStatus.PASS, reason="not locked")
    doing = f" ({lock.operation})" if lock.operation else ""
    until = f" until {lock.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    if lock.held_by_caller:
        return CheckResult(check="lock", status=CheckStatus.PASS,
                           reason=f"locked by you ({lock.locked_by}){until}")
    return CheckResult(check="lock", status=CheckStatus.WARN,
                       reason=f"locked by {lock.locked_by}{doing}{until}")


def check_config(facts: StackFacts) -> CheckResult:
    if facts.config_problem is not None:
        return CheckResult(check="config", status=CheckStatus.FAIL, reason=facts.config_problem)
    if facts.config_path is None:
        return CheckResult(check="config", status=CheckStatus.PASS,
                           reason="no config file; defaults in use")
    return CheckResult(check="config", status=CheckStatus.PASS,
                       reason=f"{facts.config_path} is valid")


def check_resources(facts: StackFacts) -> CheckResult:
    """Every declared resource is valid for its type (a plug-in may be gone, a spec changed)."""
    count = facts.resources_declared
    return _result("resources valid", facts.resource_problems,
                   "no resources declared" if not count else
                   f"{plural(count, 'declared resource')} valid for "
                   f"{agreeing(count, 'its type', 'their types')}")


def check_drift(facts: StackFacts) -> CheckResult:
    """Observed now, every declared resource matches its desired state (with --check-drift)."""
    return _result("no drift", facts.drift or (),
                   f"{plural(facts.resources_declared, 'resource')} in sync")


CHECKS: tuple[Check, ...] = (
    check_stack,
    check_dependencies_exist,
    check_dependencies_not_destroyed,
    check_dependencies_acyclic,
    check_dependencies_did_not_fail,
    check_lock,
    check_config,
    check_resources,
)


def run_checks(facts: StackFacts, checks: Sequence[Check] = CHECKS) -> list[CheckResult]:
    """Run the checks; the drift check joins them when drift was observed for the facts."""
    extra = (check_drift,) if facts.drift is not None else ()
    return [check(facts) for check in (*checks, *extra)]


def passed(results: Sequence[CheckResult]) -> bool:
    """Validation passes when no check failed; warnings do not fail it."""
    return all(result.status is not CheckStatus.FAIL for result in results)
