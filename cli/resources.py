"""`sloth-runner stack resources`: what a stack declares, from a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.context import JsonFlag, LockIdOption, state
from cli.driftview import value_shown
from cli.errors import Typer
from domain.names import validate_stack_name

if TYPE_CHECKING:

    from domain.resources import ResourcePlan

app = Typer(no_args_is_help=True,
            help="Declare a stack's resources from a file; list, show and remove them.")

StackArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]
ResourceArg = Annotated[str, typer.Argument(help="Resource name.", show_default=False)]



@app.command("apply")
def apply(
    ctx: typer.Context,
    stack: StackArg,
    file: Annotated[Path, typer.Option("--file", "-f", help="Resources file (YAML).",
                                       show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Make the stack's declared resources match FILE: declare new, change changed, drop absent.

    Only the declarations change; nothing outside is touched (that is `drift fix`).
    """
    from commands.models import DeclareResources
    from infrastructure.resource_file import load_resource_file

    st = state(ctx)
    validate_stack_name(stack)
    resources = load_resource_file(file, st.runtime().providers())
    outcome = st.service().declare_resources(
        DeclareResources(stack=stack, resources=resources, dry_run=dry_run),
        st.invocation(lock_id=lock_id))
    if not dry_run:
        st.written()
    if st.wants_json(json_output):
        output.emit_json(outcome.to_json())
        return
    plan: ResourcePlan = outcome.detail["plan"]
    for line in plan_lines(stack, plan):
        output.say(line)
    output.say()
    if plan.is_empty:
        output.say(f"No changes: the resources of '{stack}' already match {file}")
    elif dry_run:
        output.say("Dry run: nothing recorded.")
    else:
        output.say(f"{output.tick()} Resources of '{stack}' declared: {len(plan.added)} added, "
                   f"{len(plan.changed)} changed, {len(plan.removed)} removed")


def plan_lines(stack: str, plan: ResourcePlan) -> list[str]:
    lines = [f"Plan for stack '{stack}': {len(plan.added)} to add, {len(plan.changed)} to "
             f"change, {len(plan.removed)} to remove ({len(plan.unchanged)} unchanged)"]
    if not plan.is_empty:
        lines.append("")
    for resource in plan.added:
        needs = f", depends on {', '.join(resource.depends_on)}" if resource.depends_on else ""
        lines.append(f"  + {resource.name} ({resource.type}){needs}")
    for update in plan.changed:
        lines.append(f"  ~ {update.resource.name} ({update.resource.type}): "
                     f"{', '.join(update.changed)}")
    lines.extend(f"  - {name}" for name in plan.removed)
    return [output.printable(line) for line in lines]


@app.command("list")
def list_resources(ctx: typer.Context, stack: StackArg, json_output: JsonFlag = False) -> None:
    """The stack's declared resources with their last known drift state."""
    from projections.queries.resources import list_resources as query

    st = state(ctx)
    connection = st.reader()
    resources = query(connection, st.known_stack(stack))
    if st.wants_json(json_output):
        output.emit_json({"stack": stack, "resources": [r.to_json() for r in resources],
                          "total": len(resources)})
        return
    output.say(f"Resources of stack: {stack}")
    output.say()
    if not resources:
        output.say(f"No resources declared. Declare them with: sloth-runner stack resources "
                   f"apply {stack} -f FILE")
    else:
        rows = [[r.name, r.type, r.state, ", ".join(r.dependencies) or "-",
                 output.short_time(r.checked_at)] for r in resources]
        for line in output.table(["NAME", "TYPE", "STATE", "DEPENDS ON", "CHECKED"], rows,
                                 colour_column=2, colour=st.color()):
            output.say(line)
    output.say()
    output.say(f"Total: {len(resources)} resource{'s' if len(resources) != 1 else ''}")


@app.command("show")
def show(ctx: typer.Context, stack: StackArg, name: ResourceArg,
         json_output: JsonFlag = False) -> None:
    """One resource: desired attributes, last observed attributes, drift."""
    from domain.resources import ResourceNotFound
    from projections.queries.resources import find_resource

    st = state(ctx)
    connection = st.reader()
    resource = find_resource(connection, st.known_stack(stack), name)
    if resource is None:
        raise ResourceNotFound(stack, name)
    if st.wants_json(json_output):
        output.emit_json({"stack": stack, **resource.to_json()})
        return
    output.say(f"Resource: {output.printable(resource.name)} (stack {stack})")
    output.say(f"  Type:        {output.printable(resource.type)}")
    output.say(f"  State:       {output.paint(resource.state, resource.state, st.color())}")
    output.say(f"  Depends on:  {output.printable(', '.join(resource.dependencies)) or '-'}")
    output.say(f"  Declared:    {output.short_time(resource.declared_at)} by "
               f"{output.printable(resource.declared_by)}")
    output.say(f"  Changed:     {output.short_time(resource.updated_at)} by "
               f"{output.printable(resource.updated_by)}")
    checked_by = f" by {output.printable(resource.checked_by)}" if resource.checked_by else ""
    output.say(f"  Checked:     {output.short_time(resource.checked_at)}{checked_by}")
    if resource.reason:
        output.say(f"  Reason:      {output.printable(resource.reason)}")
    _attributes("Desired", resource.desired)
    if resource.observed is None and resource.state == "in_sync":
        output.say()
        output.say("Last observed:")
        output.say("  (as desired)")
    else:
        _attributes("Last observed", resource.observed)
    if resource.drift:
        output.say()
        output.say("Drift:")
        for difference in resource.drift:
            output.say(f"  {output.printable(difference['attribute'])}: expected "
                       f"{value_shown(difference['expected'])}, actual "
                       f"{value_shown(difference['actual'])}")


def _attributes(title: str, attributes: dict[str, Any] | None) -> None:
    output.say()
    output.say(f"{title}:")
    shown = {key: value for key, value in (attributes or {}).items() if value is not None}
    if not shown:
        output.say("  (not observed yet)" if attributes is None else "  (none)")
    for key, value in shown.items():
        output.say(f"  {output.printable(key)} = {value_shown(value)}")


@app.command("remove")
def remove(
    ctx: typer.Context,
    stack: StackArg,
    name: ResourceArg,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Stop declaring a resource (what it describes in the real world is left as it is)."""
    from commands.models import RemoveResource

    st = state(ctx)
    outcome = st.service().remove_resource(RemoveResource(stack=stack, name=name),
                                           st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Resource '{name}' removed from stack "
              f"'{stack}' (nothing outside was touched)")
