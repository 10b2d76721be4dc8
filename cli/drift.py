"""`sloth-runner stack drift`: compare declared resources with the real world, and repair it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import driftview, output
from cli.confirm import refuse_without_terminal
from cli.context import JsonFlag, LockIdOption, state
from cli.errors import Cancelled, Typer
from domain.errors import CheckFailed
from domain.fix_results import fix_succeeded

if TYPE_CHECKING:
    from commands.drift import FixPlan

app = Typer(no_args_is_help=True,
            help="Detect drift between declared resources and the real world, and fix it.")

StackArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]


@app.command("detect")
def detect(
    ctx: typer.Context,
    stack: StackArg,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when drift is found (or a resource cannot be read).")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Observe every resource, record the report, print what differs. Changes nothing outside."""
    from commands.models import DetectDrift

    st = state(ctx)
    outcome = st.service().drift.detect(DetectDrift(stack=stack), st.invocation())
    st.written()
    document = outcome.to_json()
    resources = document["report"]["resources"]
    total, in_sync, drifted, unknown = driftview.report_counts(resources)
    if st.wants_json(json_output):
        output.emit_json({**document, "summary": {
            "total": total, "in_sync": in_sync, "drifted": drifted, "unknown": unknown,
            "status": "in_sync" if total == in_sync else "drifted"}})
    else:
        output.say(f"Drift report for stack: {stack}")
        output.say(f"Checked: {total} resource{'s' if total != 1 else ''} "
                   f"(recorded as {outcome.events[-1]})")
        _report_body(stack, resources, (total, in_sync, drifted, unknown), st.color())
        if total != in_sync:
            output.say(f"Fix it with: sloth-runner stack drift fix {stack}  (or adopt what is "
                       "there with --accept)")
    if exit_code and total != in_sync:
        raise typer.Exit(1)


def _report_body(stack: str, resources: list[dict[str, Any]],
                 counts: tuple[int, int, int, int], colour: bool) -> None:
    """The table of what is not in sync (`resources` may list the others too) and a summary."""
    total, in_sync, drifted, unknown = counts
    output.say()
    if total == 0:
        output.say(f"No resources declared. Declare them with: sloth-runner stack resources "
                   f"apply {stack} -f FILE")
        return
    if total != in_sync:
        for line in driftview.drift_table(resources):
            output.say(line)
        output.say()
    output.say(driftview.summary(total, in_sync, drifted, unknown, colour))


@app.command("show")
def show(ctx: typer.Context, stack: StackArg, json_output: JsonFlag = False) -> None:
    """The last drift report, with when and by whom (nothing is observed)."""
    from projections.queries.resources import find_drift_report

    st = state(ctx)
    connection = st.reader()
    record = find_drift_report(connection, st.known_stack(stack))
    has_report = record is not None and record.event_id is not None
    has_fix = record is not None and record.fix_event_id is not None
    if st.wants_json(json_output):
        output.emit_json({
            "stack": stack,
            "report": {
                "event_id": record.event_id, "event_type": record.event_type,
                "checked_at": record.checked_at, "checked_by": record.checked_by,
                "correlation_id": record.correlation_id, "total": record.total,
                "in_sync": record.in_sync, "drifted": record.drifted, "unknown": record.unknown,
                "resources": record.resources,
            } if record is not None and has_report else None,
            "fix": {
                "event_id": record.fix_event_id, "fixed_at": record.fixed_at,
                "fixed_by": record.fixed_by, "mode": record.fix_mode, "resources": record.fix,
            } if record is not None and has_fix else None,
        })
        return
    output.say(f"Drift report for stack: {stack}")
    if record is None or not has_report:
        output.say()
        output.say(f"No drift report yet. Run: sloth-runner stack drift detect {stack}")
    else:
        checker = output.printable(record.checked_by or "-")
        output.say(f"Checked: {output.short_time(record.checked_at)} by {checker} "
                   f"(event {record.event_id}, {record.event_type})")
        _report_body(stack, record.resources or [],
                     (record.total, record.in_sync, record.drifted, record.unknown), st.color())
    if record is not None and has_fix:
        fixes = record.fix or []
        done = sum(1 for fix in fixes if fix_succeeded(fix["result"]))
        output.say()
        fixer = output.printable(record.fixed_by or "-")
        output.say(f"Fixed since: {output.short_time(record.fixed_at)} by {fixer} "
                   f"(event {record.fix_event_id}, {record.fix_mode}): {done} of {len(fixes)} "
                   "succeeded")
        for line in driftview.fix_lines(fixes):
            output.say(f"  {line}")
        output.say(f"Run 'sloth-runner stack drift detect {stack}' for a fresh report.")


@app.command("fix")
def fix(
    ctx: typer.Context,
    stack: StackArg,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", "--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan only; change and record nothing.")] = False,
    resource: Annotated[list[str] | None, typer.Option(
        "--resource", "-r", help="Only this resource (repeatable).")] = None,
    accept: Annotated[bool, typer.Option(
        "--accept", help="Adopt the observed state as the desired state instead.")] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Make the real world match the declared resources (or, --accept, the other way round).

    Shows the plan and asks first; without a terminal it needs --auto-approve.
    """
    from commands.models import FixDrift

    st = state(ctx)
    wants_json = st.wants_json(json_output)
    command = FixDrift(stack=stack, resources=resource or [], accept=accept, dry_run=dry_run)
    if not (auto_approve or dry_run):
        refuse_without_terminal(what=f"fix drift on '{stack}'", flag="--auto-approve")

    def confirm(plan: FixPlan) -> bool:
        if not wants_json:
            _plan_lines(stack, plan)
        if auto_approve:
            return True
        return typer.confirm("Go ahead?", default=False, err=True)

    outcome = st.service().drift.fix(command, st.invocation(lock_id=lock_id), confirm=confirm)
    if outcome.events:
        st.written()
    document = outcome.to_json()
    fixes: list[dict[str, Any]] = document["fixes"]
    failed = [f for f in fixes if not fix_succeeded(f["result"])]
    if wants_json:
        output.emit_json(document)
    else:
        _fix_result(stack, outcome.detail["plan"], document, failed)
    if outcome.detail["cancelled"]:
        raise Cancelled("cancelled")
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise CheckFailed(f"drift fix failed for '{first['name']}': {first['reason']}{more}")


def _plan_lines(stack: str, plan: FixPlan) -> None:
    count = len(plan.resources)
    output.say(f"Drift fix plan for stack '{stack}': {count} of {plan.checked} "
               f"resource{'s' if plan.checked != 1 else ''} to "
               f"{'adopt' if plan.mode.value == 'accept' else 'fix'}")
    output.say()
    for line in driftview.drift_table(r.model_dump(mode="json") for r in plan.resources):
        output.say(line)
    output.say()
    if plan.mode.value == "accept":
        output.say("The declarations will take the ACTUAL values; nothing outside is changed.")
    else:
        output.say("The real world will be changed to the EXPECTED values.")


def _fix_result(stack: str, plan: FixPlan, document: dict[str, Any],
                failed: list[dict[str, Any]]) -> None:
    if not plan.resources:
        output.say(f"No drift: {plan.checked} resource{'s' if plan.checked != 1 else ''} "
                   f"of '{stack}' match the desired state; nothing to fix.")
        return
    if document["dry_run"]:
        _plan_lines(stack, plan)
        output.say()
        output.say("Dry run: nothing was changed or recorded.")
        return
    if document["cancelled"]:
        return
    output.say()
    for line in driftview.fix_lines(document["fixes"]):
        output.say(line)
    output.say()
    done = len(document["fixes"]) - len(failed)
    verb = "adopted" if plan.mode.value == "accept" else "repaired"
    output.say(f"Result: {done} {verb}, {len(failed)} failed (recorded as drift.fixed)")
