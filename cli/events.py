"""`sloth-runner events`: the audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import output
from cli.context import JsonFlag, state
from cli.errors import Typer
from domain.errors import InvalidInput
from domain.values import INT64_MAX

app = Typer(no_args_is_help=True, help="Query and export the audit log of every change.")




@app.command("list")
def list_events(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Only this stack.")] = None,
    type_pattern: Annotated[
        str | None, typer.Option("--type", "-t", help="Event type, glob allowed: 'lock.*'.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this actor.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601; UTC if no zone.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601; UTC if no zone.")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", max=INT64_MAX, help="The newest N events.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """List events, oldest first (with --limit, the newest N)."""
    from domain.timestamps import parse_timestamp, to_text
    from projections.queries.events import EventFilter
    from projections.queries.events import list_events as query

    st = state(ctx)
    if limit is not None and limit < 1:
        raise InvalidInput(f"invalid --limit {limit}: must be at least 1")
    since_text = to_text(parse_timestamp(since, what="--since")) if since else None
    until_text = to_text(parse_timestamp(until, what="--until")) if until else None
    connection = st.reader()
    records = query(connection, EventFilter(
        stack_id=st.known_stack(stack) if stack else None, type_pattern=type_pattern, actor=actor,
        since=since_text, until=until_text, limit=limit,
    ))
    if st.wants_json(json_output):
        output.emit_json({"events": [r.to_json() for r in records], "total": len(records)})
        return
    if not records:
        output.say("No events match.")
        return
    rows = [[str(r.id), output.short_time(r.timestamp), r.stack, r.type, r.actor, r.message]
            for r in records]
    for line in output.table(["ID", "TIME", "STACK", "TYPE", "ACTOR", "MESSAGE"], rows):
        output.say(line)
    output.say()
    output.say(f"Total: {len(records)} event{'s' if len(records) != 1 else ''}")


@app.command("export")
def export(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Only this stack.")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Accepted for uniformity: the export is always JSON Lines.")] = False,
) -> None:
    """Export the event log as JSON Lines: every stored field, in log order."""
    from projections.export import export_events
    from projections.queries.stacks import stack_names

    st = state(ctx)
    stack_id = st.known_stack(stack) if stack else None
    names = stack_names(st.reader())
    output.emit_json_lines(export_events(st.runtime().event_log(), names, stack_id))
