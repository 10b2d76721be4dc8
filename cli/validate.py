"""`sloth-runner stack validate STACK|all`: pre-flight checks, each with a result and a reason.

`all` is not a stack name here: it validates every stack that is not destroyed (a stack
that is really named `all` is among them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli import output
from cli.context import JsonFlag, state
from cli.errors import Typer
from domain.names import validate_stack_name
from domain.validation import CheckStatus
from domain.wording import plural

if TYPE_CHECKING:
    from commands.validation import StackValidation
    from domain.validation import CheckResult

app = Typer(help="Pre-flight checks of a stack, or of every stack.")

MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


@app.command("validate")
def validate(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(
        metavar="STACK|all", help="The stack to validate, or `all` for every stack.",
        show_default=False)],
    check_drift: Annotated[bool, typer.Option(
        "--check-drift", help="Also observe every declared resource: drift fails the check.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Run the pre-flight checks; exit 1 when any fails. Each run is recorded as an event."""
    from infrastructure.errors import SettingsError

    st = state(ctx)
    config_problem = None
    config_path = None
    try:
        config_path = st.settings().config_path
    except SettingsError as exc:
        # A bad config file is one failed check, as long as we know which database to use.
        if not st.use_database_without_config():
            raise
        config_problem = str(exc)
    if target != "all":
        validate_stack_name(target)
    from infrastructure.collector import collection_paused

    # Validating every stack builds facts, checks and events by the hundred thousand, all
    # alive until printed: collecting cycles meanwhile would walk them again and again.
    with collection_paused():
        validations = st.runtime().validator().validate(
            None if target == "all" else [target], st.invocation(), check_drift=check_drift,
            config_path=str(config_path) if config_path else None,
            config_problem=config_problem)
        st.written()
    failed = sum(not validation.passed for validation in validations)
    if st.wants_json(json_output):
        reports = [validation.to_json() for validation in validations]
        if target == "all":
            output.emit_json({"stacks": reports, "total": len(reports), "failed": failed,
                              "passed": len(reports) - failed})
        else:
            output.emit_json(reports[0])
    elif target == "all":
        _print_summary(validations, st.color())
    else:
        _print_one(validations[0], st.color())
    if failed:
        raise typer.Exit(1)


def _counts(validation: StackValidation) -> tuple[int, int]:
    statuses = [check.status for check in validation.checks]
    return statuses.count(CheckStatus.FAIL), statuses.count(CheckStatus.WARN)


def _check_line(check: CheckResult, colour: bool, width: int) -> str:
    status = check.status.value
    return (f"  {output.paint(MARKS[status], status, colour)}  {check.check:<{width}}"
            f"  {output.printable(check.reason)}")


def _print_one(validation: StackValidation, colour: bool) -> None:
    output.say(f"Validating stack: {validation.stack}")
    output.say()
    width = max(len(check.check) for check in validation.checks)
    for check in validation.checks:
        output.say(_check_line(check, colour, width))
    output.say()
    failures, warnings = _counts(validation)
    noted = f", {plural(warnings, 'warning')}" if warnings else ""
    if validation.passed:
        output.say(f"{output.tick()} Validation passed{noted} (recorded as {validation.event})")
    else:
        output.say(f"Validation failed: {plural(failures, 'check')} failed{noted} "
                   f"(recorded as {validation.event})")


def _print_summary(validations: list[StackValidation], colour: bool) -> None:
    if not validations:
        output.say("No stacks to validate")
        return
    output.say(f"Validating {plural(len(validations), 'stack')}")
    output.say()
    width = max(len(check.check) for validation in validations for check in validation.checks)
    warned = 0
    for validation in validations:
        warnings = _counts(validation)[1]
        warned += warnings > 0
        noted = f" ({plural(warnings, 'warning')})" if warnings else ""
        verdict = "passed" if validation.passed else "FAILED"
        shade = "pass" if validation.passed else "fail"
        output.say(f"{validation.stack}: {output.paint(verdict, shade, colour)}{noted}")
        for check in validation.checks:
            if check.status is not CheckStatus.PASS:
                output.say(_check_line(check, colour, width))
    failed = sum(not validation.passed for validation in validations)
    output.say()
    output.say(f"Summary: {plural(len(validations), 'stack')} validated: "
               f"{len(validations) - failed} passed, "
               f"{failed} failed" + (f", {warned} with warnings" if warned else ""))
