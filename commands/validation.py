"""Pre-flight validation as a use case: gather the facts, run the checks, record the verdicts.

Every front door (the CLI's `stack validate`, `run --validate`, the HTTP API) calls this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter

from domain.errors import InvalidInput
from domain.invocation import Invocation
from domain.resources import Resource
from domain.validation import CheckResult, StackFacts, ValidationContext, run_checks

if TYPE_CHECKING:
    from commands.service import StackService


class FactSource(Protocol):
    """Where the facts about stacks come from (the read side provides them)."""

    def live_stacks(self) -> list[str]:
        """Every stack that is not destroyed, by name."""

    def facts(self, names: Sequence[str], context: ValidationContext) -> list[StackFacts]:
        """The facts about each named stack; StackNotFound for a name no stack has."""


@dataclass(frozen=True)
class StackValidation:
    """One stack's validation: its checks, the verdict, and the event that records it."""

    stack: str
    checks: list[CheckResult]
    passed: bool
    event: str | None

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "passed": self.passed,
                "result": "passed" if self.passed else "failed",
                "checks": _checks_json().dump_python(self.checks, mode="json"),
                "event": self.event}


@cache
def _checks_json() -> TypeAdapter[list[CheckResult]]:
    """Dumps a list of checks in one call (`stack validate all` dumps them by the thousand)."""
    return TypeAdapter(list[CheckResult])


class Validator:
    """Validates stacks before a change, and records each validation as an event."""

    def __init__(self, service: StackService, facts: FactSource) -> None:
        self.service = service
        self.facts = facts

    def validate(self, stacks: Sequence[str] | None, invocation: Invocation, *,
                 check_drift: bool = False, config_path: str | None = None,
                 config_problem: str | None = None) -> list[StackValidation]:
        """Validate these stacks (every live stack when None) and record the outcomes.

        The validations are recorded together, in one write.
        """
        names = self.facts.live_stacks() if stacks is None else list(dict.fromkeys(stacks))
        context = ValidationContext(
            invocation=invocation, config_path=config_path, config_problem=config_problem,
            resource_problem=self._resource_problem,
            observe_drift=(lambda name: self._drift(name, invocation)) if check_drift else None)
        checks = {facts.name: run_checks(facts) for facts in self.facts.facts(names, context)}
        if not checks:
            return []
        recorded = self.service.record_validations(checks, invocation)
        return [StackValidation(stack=name, checks=checks[name], passed=passed, event=event)
                for name, (passed, event) in recorded.items()]

    def _resource_problem(self, resource: Resource) -> str | None:
        try:
            self.service.drift.providers().normalize(resource)
        except InvalidInput as problem:
            return str(problem)
        return None

    def _drift(self, name: str, invocation: Invocation) -> tuple[str, ...]:
        report = self.service.drift.observe(name, invocation)
        return tuple(
            f"'{r.name}' {r.status.value}"
            + (f" ({', '.join(d.attribute for d in r.differences)})" if r.differences else "")
            + (f": {r.reason}" if r.reason else "")
            for r in report.out_of_sync)
