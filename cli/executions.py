"""`sloth-runner stack executions`: the runs of workflows against a stack, and their tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.context import JsonFlag, state
from cli.errors import Typer, UsageProblem
from domain.wording import plural

if TYPE_CHECKING:
    from projections.queries.executions import ExecutionRecord

app = Typer(no_args_is_help=True, help="The runs of workflows against a stack.")

MIN_PREFIX = 4


def duration_text(milliseconds: int | None) -> str:
    """`71ms`, `5m 23s`; `-` for a run that has not ended."""
    if milliseconds is None:
        return "-"
    from datetime import timedelta

    from domain.durations import format_duration

    return format_duration(timedelta(milliseconds=milliseconds))


def status_text(record: ExecutionRecord) -> str:
    return f"{record.status} ({record.reason})" if record.reason and record.reason not in (
        "failed",) else record.status


@app.command("list")
def list_executions(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="Stack name.", show_default=False)],
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, max=1_000_000, help="The newest N runs.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """A stack's runs, newest first."""
    from projections.queries.executions import list_executions as query

    st = state(ctx)
    records = query(st.reader(), st.known_stack(stack), limit)
    if st.wants_json(json_output):
        output.emit_json({"stack": stack, "executions": [r.to_json() for r in records],
                          "total": len(records)})
        return
    output.say(f"Executions of stack: {stack}")
    output.say()
    if not records:
        output.say(f"No runs yet. Run a workflow with: sloth-runner run --file FILE.sloth "
                   f"--stack {stack}")
        return
    rows = [[r.id[:8], r.workflow, status_text(r), output.short_time(r.started_at),
             duration_text(r.duration_ms), _task_counts(r), r.started_by] for r in records]
    for line in output.table(["ID", "WORKFLOW", "STATUS", "STARTED", "DURATION", "TASKS", "BY"],
                             rows, colour_column=2, colour=st.color()):
        output.say(line)
    output.say()
    output.say(f"Total: {plural(len(records), 'execution')}")


@app.command("show")
def show(
    ctx: typer.Context,
    execution: Annotated[str, typer.Argument(
        metavar="ID", help="Execution id, or its first characters.", show_default=False)],
    json_output: JsonFlag = False,
) -> None:
    """One run: its workflow, outcome and task table."""
    record = find(ctx, execution)
    st = state(ctx)
    if st.wants_json(json_output):
        output.emit_json(record.to_json())
        return
    for line in detail_lines(record, st.color()):
        output.say(line)


def find(ctx: typer.Context, execution: str) -> ExecutionRecord:
    """The run with this id or id prefix (exit 4 when there is none, 2 when it is ambiguous)."""
    from domain.executions import ExecutionNotFound
    from projections.queries.executions import find_executions

    if len(execution) < MIN_PREFIX:
        raise UsageProblem(f"give at least {MIN_PREFIX} characters of the execution id")
    found = find_executions(state(ctx).reader(), execution)
    if not found:
        raise ExecutionNotFound(execution)
    if len(found) > 1 and found[0].id != execution:
        raise UsageProblem(f"execution id '{execution}' is ambiguous; give more of it")
    return found[0]


def detail_lines(record: ExecutionRecord, colour: bool) -> list[str]:
    lines = [
        f"Execution: {record.id}",
        f"  Stack:      {record.stack}",
        f"  Workflow:   {record.workflow}" + (f" {record.version}" if record.version else ""),
        f"  File:       {record.file or '-'}"
        + (f" (sha256 {record.file_sha256[:12]})" if record.file_sha256 else ""),
        f"  Status:     {output.paint(status_text(record), record.status, colour)}",
        f"  Started:    {output.short_time(record.started_at)} by {record.started_by}",
        f"  Finished:   {output.short_time(record.finished_at)}",
        f"  Duration:   {duration_text(record.duration_ms)}",
        f"  Lock:       {record.lock_id or '-'}",
    ]
    if record.snapshot_version:
        lines.append(f"  Snapshot:   v{record.snapshot_version} (taken before the run)")
    if record.rolled_back_to:
        lines.append(f"  Rollback:   state restored to v{record.rolled_back_to}")
    if record.message:
        lines.append(f"  Message:    {record.message}")
    lines.append("")
    if record.tasks:
        rows = [[t["name"], t["status"], duration_text(t.get("duration_ms")),
                 str(t.get("attempts", 0)), _one_line(t)] for t in record.tasks]
        lines += output.table(["TASK", "STATUS", "DURATION", "ATTEMPTS", "MESSAGE"], rows,
                              colour_column=1, colour=colour)
    else:
        lines.append("Tasks: " + (", ".join(record.task_names) or "-")
                     + (" (running)" if record.status == "running" else ""))
    return lines


def _one_line(task: dict[str, Any]) -> str:
    text = task.get("error") or task.get("message") or ""
    where = f" ({task['location']})" if task.get("location") else ""
    return str(text).splitlines()[0] + where if text else where.strip()


def _task_counts(record: ExecutionRecord) -> str:
    if not record.tasks:
        return str(len(record.task_names))
    done = sum(1 for t in record.tasks if t["status"] == "succeeded")
    return f"{done}/{len(record.tasks)}"
