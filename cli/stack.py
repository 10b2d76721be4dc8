"""`sloth-runner stack`: create, list, show, update, destroy, output."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import output
from cli.confirm import confirm_or_refuse
from cli.context import CliState, JsonFlag, LockIdOption, state
from cli.errors import Typer, UsageProblem
from cli.lazy import lazy_group
from cli.secretview import ShowSecrets, revealed
from domain.errors import KeyNotFound, StackDestroyed, StackNotFound
from domain.names import validate_stack_name
from domain.values import INT64_MAX
from domain.wording import plural

app = Typer(
    cls=lazy_group(state="cli.state", lock="cli.lock", snapshot="cli.snapshot",
                   deps="cli.deps", validate="cli.validate", resources="cli.resources",
                   drift="cli.drift", executions="cli.executions"),
    no_args_is_help=True,
    help="Create, inspect and manage stacks.",
)

NameArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]


def duration_text(milliseconds: int | None) -> str:
    if not milliseconds:
        return "0s"
    from datetime import timedelta

    from domain.durations import format_duration

    return format_duration(timedelta(milliseconds=milliseconds))


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is for.")] = "",
    depends_on: Annotated[list[str] | None, typer.Option(
        "--depends-on", help="A stack it depends on (repeatable; it may not exist yet).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a stack (a destroyed stack's name can be created again; its history stays)."""
    from commands.models import CreateStack

    st = state(ctx)
    command = CreateStack(stack=name, description=description, depends_on=depends_on or [])
    outcome = st.service().create_stack(command, st.invocation())
    st.written()
    if depends_on:
        _warn_about_cycles(st, name, st.wants_json(json_output))
    if st.wants_json(json_output):
        output.emit_json(outcome.to_json())
        return
    again = " again (its earlier history is kept)" if outcome.detail.get("recreated") else ""
    needs = outcome.detail["dependencies"]
    depending = f", depending on {', '.join(needs)}" if needs else ""
    output.say(f"{output.tick()} Stack '{name}' created{again}{depending}")


def _warn_about_cycles(st: CliState, name: str, json: bool) -> None:
    """Declared by stacks while this one did not exist, edges toward it may close a cycle."""
    from projections.graph import DependencyGraph

    graph = DependencyGraph.load(st.reader())
    for cycle in graph.cycles(within=graph.closure([name])):
        output.notice("warning", f"dependency cycle {' -> '.join(cycle)} "
                      f"(see: sloth-runner stack deps check {name})", json=json)


@app.command("list")
def list_stacks(
    ctx: typer.Context,
    all_stacks: Annotated[bool, typer.Option("--all", "-a", help="Include destroyed stacks.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """List stacks with their status and executions."""
    from projections.queries.stacks import list_stacks as query

    st = state(ctx)
    stacks = query(st.reader(), include_destroyed=all_stacks)
    if st.wants_json(json_output):
        output.emit_json({"stacks": [s.to_json() for s in stacks], "total": len(stacks)})
        return
    output.say("Workflow Stacks")
    output.say()
    rows = [
        [s.name, s.status, output.short_time(s.last_execution, seconds=False),
         duration_text(s.last_duration_ms), str(s.execution_count)]
        for s in stacks
    ]
    if rows:
        for line in output.table(
            ["NAME", "STATUS", "LAST RUN", "DURATION", "EXECUTIONS"], rows,
            min_widths=(20, 12, 19, 12), colour_column=1, colour=st.color(),
        ):
            output.say(line)
    else:
        output.say("No stacks yet. Create one with: sloth-runner stack create NAME")
    output.say()
    output.say(f"Total: {plural(len(stacks), 'stack')}")


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArg,
    at: Annotated[
        str | None, typer.Option("--at", help="As it was at this time (ISO 8601, UTC if no zone).")
    ] = None,
    at_event: Annotated[
        int | None, typer.Option("--at-event", max=INT64_MAX,
                                 help="As it was at this event id (log position).")
    ] = None,
    show_secrets: ShowSecrets = False,
    json_output: JsonFlag = False,
) -> None:
    """Show a stack: status, history counters, state values and outputs (or as it was)."""
    if at is not None or at_event is not None:
        _show_as_of(ctx, name, at, at_event, json_output, show_secrets)
        return
    from cli.lockview import lock_state
    from infrastructure.clock import now
    from projections.queries.executions import list_executions
    from projections.queries.locks import find_lock
    from projections.queries.stacks import find_stack

    st = state(ctx)
    validate_stack_name(name)
    connection = st.reader()
    stack = find_stack(connection, name)
    if stack is None:
        raise StackNotFound(name)
    lock = find_lock(connection, stack.id)
    lock_status = lock_state(lock.expires_at, now()) if lock else "UNLOCKED"
    runs = list_executions(connection, stack.id, 1) if stack.execution_count else []
    last_run = runs[0] if runs else None
    values = revealed(st, show_secrets, name, stack.values)
    outputs = revealed(st, show_secrets, name, stack.outputs)
    if st.wants_json(json_output):
        output.emit_json({**stack.to_json(), "values": values, "outputs": outputs,
                          "lock_status": lock_status,
                          "lock": lock.to_json() if lock else None,
                          "last_run": last_run.to_json() if last_run else None})
        return
    colour = st.color()
    output.say(f"Stack: {stack.name}")
    output.say(f"  ID:            {stack.id}")
    output.say(f"  Description:   {output.printable(stack.description or '-')}")
    output.say(f"  Status:        {output.paint(stack.status, stack.status, colour)}")
    held = (f" by {output.printable(lock.locked_by)} until {output.short_time(lock.expires_at)}"
            if lock else "")
    output.say(f"  Lock:          {output.paint(lock_status, lock_status, colour)}{held}")
    output.say(f"  Version:       {('v' + str(stack.version)) if stack.version else '-'}")
    for label, moment, actor in (("Created", stack.created_at, stack.created_by),
                                 ("Updated", stack.updated_at, stack.updated_by)):
        output.say(f"  {label + ':':<15}{output.short_time(moment)} by {output.printable(actor)}")
    if stack.destroyed_at:
        output.say(f"  Destroyed:     {output.short_time(stack.destroyed_at)}")
    output.say(f"  Executions:    {stack.execution_count}")
    if last_run is not None:
        from cli.executions import duration_text, status_text

        output.say(f"  Last run:      {output.short_time(last_run.started_at)} "
                   f"{last_run.workflow} {status_text(last_run)} "
                   f"{duration_text(last_run.duration_ms)} ({last_run.id[:8]})")
    output.say(f"  Events:        {stack.event_version}")
    _key_value_block("State values", values)
    _key_value_block("Outputs", outputs)


def _show_as_of(ctx: typer.Context, name: str, at: str | None, at_event: int | None,
                json_output: bool, show_secrets: bool) -> None:
    from domain.timestamps import parse_timestamp
    from projections.timetravel import stack_as_of

    st = state(ctx)
    validate_stack_name(name)
    if at is not None and at_event is not None:
        raise UsageProblem("give --at or --at-event, not both")
    if at_event is not None and at_event < 1:
        raise UsageProblem(f"invalid --at-event {at_event}: event ids start at 1")
    moment = parse_timestamp(at, what="--at") if at is not None else None
    connection = st.reader()
    past = stack_as_of(st.runtime().store(), connection, name, at=moment, event_id=at_event)
    values = revealed(st, show_secrets, name, past.values)
    outputs = revealed(st, show_secrets, name, past.outputs)
    if st.wants_json(json_output):
        output.emit_json({**past.to_json(), "values": values, "outputs": outputs})
        return
    colour = st.color()
    output.say(f"Stack: {past.name} (as of {past.as_of})")
    output.say(f"  Description:   {output.printable(past.description or '-')}")
    output.say(f"  Status:        {output.paint(past.status, past.status, colour)}")
    locked = f"LOCKED by {output.printable(past.lock['locked_by'])}" if past.lock else "UNLOCKED"
    output.say(f"  Lock:          {locked}")
    output.say(f"  Version:       {('v' + str(past.snapshot_version)) if past.snapshot_version else '-'}")
    output.say(f"  Created:       {output.short_time(past.created_at)}")
    output.say(f"  Updated:       {output.short_time(past.updated_at)}")
    output.say(f"  Events:        {past.stream_version}")
    _key_value_block("State values", values)
    _key_value_block("Outputs", outputs)


@app.command("history")
def history(
    ctx: typer.Context,
    name: NameArg,
    limit: Annotated[int | None, typer.Option("--limit", "-n", max=INT64_MAX,
                                                help="The newest N changes.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Every change to a stack, newest first: event id, time, actor, type and a summary."""
    from domain.errors import InvalidInput
    from projections.queries.events import stack_history

    st = state(ctx)
    validate_stack_name(name)
    if limit is not None and limit < 1:
        raise InvalidInput(f"invalid --limit {limit}: must be at least 1")
    entries = stack_history(st.reader(), st.known_stack(name), limit)
    if st.wants_json(json_output):
        output.emit_json({"stack": name, "history": [e.to_json() for e in entries]})
        return
    output.say(f"History of stack: {name}")
    output.say()
    rows = [[str(e.event_id), str(e.version), output.short_time(e.time), e.actor, e.kind,
             e.summary] for e in entries]
    for line in output.table(["EVENT", "VERSION", "TIME", "ACTOR", "TYPE", "SUMMARY"], rows):
        output.say(line)
    output.say()
    output.say(f"Showing {len(entries)} change{'s' if len(entries) != 1 else ''}")


def _key_value_block(title: str, values: dict[str, Any]) -> None:
    output.say()
    output.say(f"{title} ({len(values)}):")
    if not values:
        output.say("  (none)")
    for key, value in values.items():
        output.say(f"  {key} = {output.value_text(value)}")


@app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d", help="New description.")],
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Change a stack's description."""
    from commands.models import UpdateStack

    st = state(ctx)
    outcome = st.service().update_stack(UpdateStack(stack=name, description=description),
                                        st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Stack '{name}' updated"
              if outcome.detail["changed"] else f"Stack '{name}' unchanged")


@app.command("destroy")
def destroy(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Destroy even though you hold its lock.")
    ] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Destroy a stack. Its history is kept and its name can be created again."""
    from commands.models import DestroyStack
    from projections.queries.stacks import find_stack

    st = state(ctx)
    command = DestroyStack(stack=name, reason=reason, force=force)
    current = find_stack(st.reader(), name)
    if current is None:
        raise StackNotFound(name)
    if current.status == "destroyed":
        raise StackDestroyed(name)
    confirm_or_refuse(f"Destroy stack '{name}'?", yes=yes, what=f"destroy stack '{name}'")
    outcome = st.service().destroy_stack(command, st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Stack '{name}' destroyed (history kept; "
              f"see: sloth-runner events list --stack {name})")


@app.command("output")
def outputs(
    ctx: typer.Context,
    name: NameArg,
    key: Annotated[str | None, typer.Argument(help="Show only this output.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE (a string) or KEY:=JSON. Repeatable."),
    ] = None,
    set_secret: Annotated[list[str] | None, typer.Option(
        "--set-secret", help="KEY=VALUE or KEY:=JSON stored encrypted; KEY=@FILE reads the "
                             "file. Repeatable.")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="KEY to delete. Repeatable.")] = None,
    show_secrets: ShowSecrets = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Show a stack's outputs, or write them with --set / --set-secret / --unset."""
    st = state(ctx)
    if set_ or set_secret or unset:
        if key is not None:
            raise UsageProblem("give either KEY to show one output, or --set/--unset to write")
        from commands.models import ChangeOutputs, parse_assignments, parse_secret_assignments

        command = ChangeOutputs(
            stack=name, set=parse_assignments(set_ or [], kind="output key"),
            set_secrets=parse_secret_assignments(set_secret or [], kind="output key"),
            unset=unset or [])
        outcome = st.service().change_outputs(command, st.invocation(lock_id=lock_id))
        changed, deleted = outcome.detail["changed"], outcome.detail["deleted"]
        parts = ([f"set {output.key_list(changed)}"] if changed else []) + (
            [f"deleted {output.key_list(deleted)}"] if deleted else [])
        st.finish(outcome, json_output,
                  f"{output.tick()} Outputs of '{name}': {'; '.join(parts) or 'unchanged'}")
        return

    from projections.queries.stacks import find_stack

    validate_stack_name(name)
    stack = find_stack(st.reader(), name)
    if stack is None:
        raise StackNotFound(name)
    if key is not None:
        if key not in stack.outputs:
            raise KeyNotFound(name, key, "output")
        value = revealed(st, show_secrets, name, {key: stack.outputs[key]})[key]
        if st.wants_json(json_output):
            output.emit_json(value)
        else:
            output.say(output.raw_value(value))
        return
    outputs = revealed(st, show_secrets, name, stack.outputs)
    if st.wants_json(json_output):
        output.emit_json(outputs)
        return
    output.say(f"Outputs of stack: {name}")
    output.say()
    if not outputs:
        output.say("(none)")
    for out_key, value in outputs.items():
        output.say(f"{out_key} = {output.value_text(value)}")
