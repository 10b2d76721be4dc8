"""`sloth-runner stack state`: the stack's key/value state."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import output
from cli.context import JsonFlag, LockIdOption, state
from cli.errors import Typer
from cli.secretview import ShowSecrets, revealed
from domain.errors import KeyNotFound, StackNotFound
from domain.names import validate_stack_name

app = Typer(no_args_is_help=True, help="Read and write a stack's state values.")

NameArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]


@app.command("set")
def set_values(
    ctx: typer.Context,
    name: NameArg,
    assignments: Annotated[
        list[str] | None,
        typer.Argument(help="KEY=VALUE (a string) or KEY:=JSON.", show_default=False)
    ] = None,
    secret: Annotated[list[str] | None, typer.Option(
        "--secret", help="KEY=VALUE or KEY:=JSON stored encrypted; KEY=@FILE reads the file. "
                         "Repeatable.")] = None,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Set one or more state values (plain or --secret), atomically."""
    from cli.errors import UsageProblem
    from commands.models import SetValues, parse_assignments, parse_secret_assignments

    st = state(ctx)
    if not assignments and not secret:
        raise UsageProblem("give at least one KEY=VALUE, or --secret KEY=VALUE")
    command = SetValues(stack=name, values=parse_assignments(assignments or [], kind="state key"),
                        secrets=parse_secret_assignments(secret or [], kind="state key"))
    outcome = st.service().set_values(command, st.invocation(lock_id=lock_id))
    changed = outcome.detail["changed"]
    st.finish(outcome, json_output,
              f"{output.tick()} Set {output.key_list(changed)} on stack '{name}'" if changed
              else f"No change: stack '{name}' already has these values")


@app.command("get")
def get_value(
    ctx: typer.Context,
    name: NameArg,
    key: Annotated[str, typer.Argument(help="State key.", show_default=False)],
    show_secrets: ShowSecrets = False,
    json_output: JsonFlag = False,
) -> None:
    """Print one state value (strings as they are, anything else as JSON; a secret as
    [secret] unless --show-secrets)."""
    from projections.queries.stacks import find_stack

    st = state(ctx)
    validate_stack_name(name)
    stack = find_stack(st.reader(), name)
    if stack is None:
        raise StackNotFound(name)
    if key not in stack.values:
        raise KeyNotFound(name, key)
    value = revealed(st, show_secrets, name, {key: stack.values[key]})[key]
    if st.wants_json(json_output):
        output.emit_json(value)
    else:
        output.say(output.raw_value(value))


@app.command("unset")
def unset_values(
    ctx: typer.Context,
    name: NameArg,
    keys: Annotated[list[str], typer.Argument(help="Keys to delete.", show_default=False)],
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete one or more state values, atomically (every key must exist)."""
    from commands.models import UnsetValues

    st = state(ctx)
    outcome = st.service().unset_values(UnsetValues(stack=name, keys=keys),
                                        st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Deleted "
              f"{output.key_list(outcome.detail['deleted'])} from stack '{name}'")


@app.command("list")
def list_values(ctx: typer.Context, name: NameArg, show_secrets: ShowSecrets = False,
                json_output: JsonFlag = False) -> None:
    """List a stack's state values (secrets as [secret] unless --show-secrets)."""
    from projections.queries.stacks import find_stack

    st = state(ctx)
    validate_stack_name(name)
    stack = find_stack(st.reader(), name)
    if stack is None:
        raise StackNotFound(name)
    values = revealed(st, show_secrets, name, stack.values)
    if st.wants_json(json_output):
        output.emit_json(values)
        return
    output.say(f"State of stack: {name}")
    output.say()
    if not values:
        output.say("(no values)")
        return
    rows = [[key, output.value_text(value)] for key, value in values.items()]
    for line in output.table(["KEY", "VALUE"], rows):
        output.say(line)
    output.say()
    output.say(f"Total: {len(rows)} value{'s' if len(rows) != 1 else ''}")
