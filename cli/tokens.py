"""`sloth-runner tokens`: who may call `sloth-runner serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import output
from cli.context import JsonFlag, state
from cli.errors import Typer

app = Typer(no_args_is_help=True, help="API tokens for `sloth-runner serve`.")

NameArg = Annotated[str, typer.Argument(help="Token name (the actor on its events).",
                                        show_default=False)]


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    read_only: Annotated[bool, typer.Option("--read-only", help="It cannot change anything.")
                         ] = False,
    stacks: Annotated[list[str] | None, typer.Option(
        "--stack", metavar="GLOB", help="Only stacks matching this pattern (repeatable).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Make a token and print its secret, once: only its SHA-256 is kept."""
    from commands.tokens import CreateToken

    st = state(ctx)
    made = st.runtime().tokens().create(
        CreateToken(name=name, read_only=read_only, stacks=stacks or []), st.invocation())
    st.written()
    if st.wants_json(json_output):
        output.emit_json({"name": made.name, "token": made.secret, "read_only": made.read_only,
                          "stacks": made.stacks})
        return
    scope = ", ".join(made.stacks) if made.stacks else "every stack"
    access = "read-only" if made.read_only else "read-write"
    output.say(f"{output.tick()} Token '{name}' created ({access}; {output.printable(scope)})")
    output.say()
    output.say(made.secret)
    output.say()
    output.say("This is the only time it is shown: keep it now. Use it as "
               "'Authorization: Bearer TOKEN', or as Terraform's password.")


@app.command("list")
def list_tokens(
    ctx: typer.Context,
    all_tokens: Annotated[bool, typer.Option("--all", "-a", help="Include revoked tokens.")
                          ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Tokens by name, with what they may do (never their secrets)."""
    from projections.queries.tokens import list_tokens as query

    st = state(ctx)
    tokens = query(st.reader(), include_revoked=all_tokens)
    if st.wants_json(json_output):
        output.emit_json({"tokens": [t.to_json() for t in tokens], "total": len(tokens)})
        return
    if not tokens:
        output.say("No tokens. Make one with: sloth-runner tokens create NAME")
        return
    rows = [[t.name, "read-only" if t.read_only else "read-write",
             ", ".join(t.stacks) or "*", output.short_time(t.created_at), t.created_by,
             output.short_time(t.revoked_at) if t.revoked_at else "-"] for t in tokens]
    for line in output.table(["NAME", "ACCESS", "STACKS", "CREATED", "BY", "REVOKED"], rows):
        output.say(line)
    output.say()
    output.say(f"Total: {len(tokens)} token{'s' if len(tokens) != 1 else ''}")


@app.command("revoke")
def revoke(ctx: typer.Context, name: NameArg, json_output: JsonFlag = False) -> None:
    """Revoke a token: it opens nothing from now on (its history stays)."""
    st = state(ctx)
    st.runtime().tokens().revoke(name, st.invocation())
    st.written()
    if st.wants_json(json_output):
        output.emit_json({"name": name, "revoked": True})
        return
    output.say(f"{output.tick()} Token '{name}' revoked")
