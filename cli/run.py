"""`sloth-runner run`: run a workflow from a `.sloth` file against a stack (or many)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import output
from cli.context import CliState, JsonFlag, LockIdOption, state
from cli.errors import Typer, UsageProblem
from commands.workflow_run import RunProgress, RunReport, RunRequest, WorkflowRuns
from domain.locks import LockInfo
from domain.wording import listed, plural
from domain.workflow import LogLevel, LogLine, TaskResult, WorkflowPlan

if TYPE_CHECKING:
    from infrastructure.lua.loader import LoadedWorkflow

app = Typer(help="Run a workflow against a stack.")

MARKS = {"succeeded": ("✓", "OK"), "failed": ("✗", "FAILED"), "timed_out": ("✗", "TIMEOUT"),
         "skipped": ("-", "SKIPPED")}
SHADES = {"succeeded": "completed", "failed": "failed", "timed_out": "failed",
          "skipped": "destroyed"}


@app.command("run")
def run(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Argument(
        metavar="[WORKFLOW]", help="The workflow to run (may be left out when the file "
        "defines one).", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="The .sloth workflow file.", show_default=False)] = None,
    stack: Annotated[str | None, typer.Option(
        "--stack", "-s", help="The stack to run against.", show_default=False)] = None,
    stacks: Annotated[str | None, typer.Option(
        "--stacks", help="Run against these stacks (A,B,C) in dependency order.",
        show_default=False)] = None,
    all_stacks: Annotated[bool, typer.Option(
        "--all-stacks", help="Run against every stack that is not destroyed.")] = False,
    validate: Annotated[bool, typer.Option(
        "--validate", help="Validate the stack first; a failing check stops the run (exit 1).")
    ] = False,
    values_file: Annotated[Path | None, typer.Option(
        "--values", help="A YAML file of values for the workflow (`values` in Lua).",
        show_default=False)] = None,
    assignments: Annotated[list[str] | None, typer.Option(
        "--set", help="A value KEY=VALUE or KEY:=JSON (repeatable; beats --values).",
        show_default=False)] = None,
    wait: Annotated[str | None, typer.Option(
        "--wait", help="Wait this long for someone else's lock (e.g. 5m).", show_default=False)
    ] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan; run and record nothing.")] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Run a workflow: under the stack's lock and after a snapshot when it asks, recorded as
    an execution. Exit 0 when it completed, 1 when it failed, 130 when interrupted."""
    from domain.durations import parse_duration
    from domain.names import validate_stack_name
    from infrastructure.lua.loader import load_workflow
    from infrastructure.lua.values import load_values

    st = state(ctx)
    targets = [bool(stack), bool(stacks), all_stacks]
    if sum(targets) != 1:
        raise UsageProblem("name the stack to run against: --stack NAME, --stacks A,B,C or "
                           "--all-stacks (one of them)")
    if file is None:
        raise UsageProblem("name the workflow file with --file FILE.sloth")
    patience = parse_duration(wait, what="--wait", allow_zero=True) if wait else None
    names = [validate_stack_name(name.strip()) for name in stacks.split(",")] if stacks else []
    if stack is not None:
        validate_stack_name(stack)
    loaded = load_workflow(file, name=workflow,
                           values=load_values(values_file, assignments or []))
    runs = st.runtime().runs()
    if dry_run:
        _dry_run(st, runs, loaded, stack, names, all_stacks, json_output)
        return
    invocation = st.invocation(lock_id=lock_id)

    def request(name: str) -> RunRequest:
        return RunRequest(stack=name, workflow=loaded, validate=validate, wait=patience)

    quiet = st.wants_json(json_output)
    if stack is not None:
        report = runs.run(request(stack), invocation, None if quiet else Progress(st.color()),
                          recorded=st.runtime().deliver_to_hooks)
        st.written()
        if quiet:
            output.emit_json(report.to_json())
        else:
            _summary(report, st.color())
        raise typer.Exit(_exit_code(report))
    levels, dependencies = _stack_order(st, names or None)
    reports = runs.run_many(levels, dependencies, request, invocation,
                            None if quiet else lambda name: Progress(st.color(), prefix=name))
    st.written()
    failed = [r for r in reports if r.status == "failed"]
    skipped = [r for r in reports if r.status == "skipped"]
    if quiet:
        output.emit_json({"runs": [r.to_json() for r in reports], "total": len(reports),
                          "failed": len(failed), "skipped": len(skipped),
                          "levels": [list(level) for level in levels]})
    else:
        output.say()
        for report in reports:
            _summary(report, st.color(), prefix=f"{report.stack}: ")
        output.say()
        output.say(f"Summary: {plural(len(reports), 'stack')} in {plural(len(levels), 'level')}:"
                   f" {len(reports) - len(failed) - len(skipped)} completed, {len(failed)} "
                   f"failed, {len(skipped)} skipped"
                   + (f" ({listed([r.stack for r in skipped])})" if skipped else ""))
    if any(r.interrupted for r in reports):
        raise typer.Exit(130)
    if failed:
        raise typer.Exit(1)


def _exit_code(report: RunReport) -> int:
    if report.status == "completed":
        return 0
    if report.interrupted:
        return 130
    if report.reason == "lock lost":
        return 3
    return 1


def _stack_order(st: CliState, names: list[str] | None
                 ) -> tuple[list[list[str]], dict[str, set[str]]]:
    """The stacks to run in levels of `deps order`, and what each depends on among them."""
    from domain.errors import StackNotFound
    from projections.graph import DependencyGraph

    graph = DependencyGraph.load(st.reader())
    chosen = graph.live() if names is None else list(dict.fromkeys(names))
    for name in chosen:
        if not graph.exists(name):
            raise StackNotFound(name)
    picked = set(chosen)
    levels = [[name for name in level if name in picked] for level in graph.order(chosen)]
    levels = [level for level in levels if level]
    dependencies = {name: (graph.closure([name]) & picked) - {name} for name in chosen}
    return levels, dependencies


def _dry_run(st: CliState, runs: WorkflowRuns, loaded: LoadedWorkflow, stack: str | None,
             names: list[str], all_stacks: bool, json_output: bool) -> None:
    from commands.workflow_plan import plan_workflow

    targets = [stack] if stack else names
    if stack or names:
        for name in targets:
            st.known_stack(name)
    else:
        targets = [name for level in _stack_order(st, None)[0] for name in level]
    spec = loaded.spec.model_copy(update={"config": runs.config(loaded.spec)})
    plan = plan_workflow(spec, runs.default_parallel)
    if st.wants_json(json_output):
        output.emit_json({"stacks": targets, "dry_run": True, **plan.model_dump(mode="json")})
        return
    for line in plan_lines(plan, targets):
        output.say(line)


def plan_lines(plan: WorkflowPlan, stacks: list[str]) -> list[str]:
    """The dry-run plan as a person reads it."""
    version = f" {plan.version}" if plan.version else ""
    lines = [f"Plan: workflow '{plan.workflow}'{version} on {listed(stacks, 10)} "
             "(dry run: nothing runs, nothing is recorded)", ""]
    step = 1
    if plan.require_lock:
        lines.append(f"{step}. Take the stack's lock (operation 'run {plan.workflow}'), renewed "
                     "while the run lasts, released at the end")
    else:
        lines.append(f"{step}. No lock (require_lock is off); a lock someone else holds "
                     "refuses the run")
    step += 1
    if plan.create_snapshot:
        back = "; restored if the run fails" if plan.rollback_on_failure else ""
        lines.append(f"{step}. Take a snapshot before the first task{back}")
        step += 1
    timeout = f", timeout {plan.timeout}" if plan.timeout else ""
    lines.append(f"{step}. Run {plural(len(plan.tasks), 'task')} in {plural(len(plan.levels), 'level')}"
                 f", up to {plan.max_parallel_tasks} at a time{timeout}:")
    for number, level in enumerate(plan.levels, start=1):
        lines.append(f"   level {number}: {', '.join(level)}")
    lines.append("")
    rows = [[task.name, ", ".join(task.depends_on) or "-", str(task.level + 1),
             task.timeout or "-", f"{task.retries} ({task.backoff.value})" if task.retries
             else "0", output.printable(task.description or "-")] for task in plan.tasks]
    lines += output.table(["TASK", "DEPENDS ON", "LEVEL", "TIMEOUT", "RETRIES", "DESCRIPTION"],
                          rows)
    return lines


def _mark(status: str) -> str:
    shown, fallback = MARKS.get(status, ("?", status.upper()))
    return output.symbol(shown, fallback)


class Progress(RunProgress):
    """Prints a run as it goes: a line per task as it finishes, and the lock and snapshot."""

    def __init__(self, colour: bool, prefix: str = "") -> None:
        self.colour = colour
        self.prefix = prefix

    def say(self, text: str) -> None:
        output.say(f"[{self.prefix}] {text}" if self.prefix else text)

    def lock_taken(self, stack: str, lock: LockInfo, *, already_held: bool) -> None:
        if already_held:
            self.say(f"Lock: held by you ({output.printable(lock.locked_by)}); the run uses it "
                     f"(lock {lock.lock_id[:8]})")
        else:
            self.say(f"Lock: acquired on '{stack}' (lock {lock.lock_id[:8]}, renewed while the "
                     "run lasts)")

    def waiting_for_lock(self, stack: str, lock: LockInfo) -> None:
        print(f"waiting for the lock on '{stack}', held by "
              f"{output.printable(lock.describe())}...", file=sys.stderr)

    def snapshot_taken(self, stack: str, version: int) -> None:
        self.say(f"Snapshot: v{version} of '{stack}' taken before the run")

    def run_started(self, stack: str, execution_id: str, workflow: str) -> None:
        self.say(f"Run {execution_id[:8]}: workflow '{workflow}' on '{stack}'")

    def task_finished(self, result: TaskResult) -> None:
        self.say(task_line(result, self.colour))

    def log(self, task: str | None, line: LogLine) -> None:
        if line.level is LogLevel.DEBUG:  # kept in the execution's record, not shown live
            return
        where = f"{task}: " if task else ""
        self.say(f"    [{line.level.value}] {where}{output.printable(line.message)}")


def task_line(result: TaskResult, colour: bool) -> str:
    """`  ✓ deploy_app  71ms  Deployment successful`."""
    from datetime import timedelta

    from domain.durations import format_duration

    status = result.status.value
    mark = output.paint(_mark(status), SHADES.get(status, status), colour)
    took = format_duration(timedelta(seconds=result.duration)) if result.attempts else "-"
    text = result.error or result.message
    where = f" ({result.location})" if result.location and result.error else ""
    tries = f" [{result.attempts} attempts]" if result.attempts > 1 else ""
    return (f"  {mark} {result.name}  {took}  "
            f"{output.printable(text.splitlines()[0] if text else '')}{where}{tries}").rstrip()


def _summary(report: RunReport, colour: bool, prefix: str = "") -> None:
    from datetime import timedelta

    from domain.durations import format_duration

    took = format_duration(timedelta(milliseconds=report.duration_ms))
    counts = ""
    if report.result is not None and report.result.tasks:
        tally: dict[str, int] = {}
        for task in report.result.tasks:
            tally[task.status.value] = tally.get(task.status.value, 0) + 1
        counts = ": " + ", ".join(f"{count} {status.replace('_', ' ')}"
                                  for status, count in tally.items())
    shade = "completed" if report.status == "completed" else "failed"
    if report.status == "skipped":
        output.say(f"{prefix}{output.paint('skipped', 'destroyed', colour)} ({report.reason})")
        return
    reason = f" ({report.reason})" if report.reason and report.reason != "failed" else ""
    output.say(f"{prefix}Run {report.execution_id[:8]} "
               f"{output.paint(report.status, shade, colour)}{reason} in {took}{counts}")
    if report.message and report.status != "completed":
        output.say(f"{prefix}  {output.printable(report.message)}")
    if report.rolled_back_to is not None:
        output.say(f"{prefix}  State restored to v{report.rolled_back_to} "
                   "(rollback_on_failure; nothing outside the stack was changed)")
