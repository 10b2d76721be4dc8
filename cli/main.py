"""The `sloth-runner` entry point: global options, command groups, and process exit."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import CliState, path_text
from cli.errors import EntryPoint, Typer
from cli.lazy import lazy_group

app = Typer(
    name="sloth-runner",
    cls=type("Root", (EntryPoint, lazy_group(stack="cli.stack", events="cli.events",
                                             projections="cli.projections", run="cli.run",
                                             tokens="cli.tokens", serve="cli.serve",
                                             hooks="cli.hooks", db="cli.db", secrets="cli.secrets",
                                             **{"import": "cli.importing"})), {}),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Stack state management: locks, snapshots, drift, dependencies and a full audit log.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"sloth-runner {version('sloth-runner')}")
        except PackageNotFoundError:
            print("sloth-runner (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", metavar="PATH", parser=path_text,
                     help="SQLite database (env SLOTH_RUNNER_DB)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", metavar="URL",
                     help="PostgreSQL database, postgresql://user@host:port/db "
                          "(env SLOTH_RUNNER_DATABASE_URL)."),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", metavar="PATH", parser=path_text,
                     help="Config file (env SLOTH_RUNNER_CONFIG)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Tracebacks on internal errors.")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Stack state management: locks, snapshots, drift, dependencies and a full audit log."""
    cli_state = CliState(db=db, config=config, json=json_output, no_color=no_color, debug=debug,
                         database_url=database_url)
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


@app.command("completion")
def completion(
    ctx: typer.Context,
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish",
                                         help="The shell to complete in.", show_default=False)],
) -> None:
    """Print a shell completion script (source it, or save it where the shell looks)."""
    from typer.completion import get_completion_script  # type: ignore[attr-defined]

    from cli.errors import COMPLETE_VARIABLE, UsageProblem

    if shell not in ("bash", "zsh", "fish"):
        raise UsageProblem(f"no completion for shell '{shell}': use bash, zsh or fish")
    print(get_completion_script(prog_name="sloth-runner", complete_var=COMPLETE_VARIABLE,
                                shell=shell))


def main() -> None:
    """Console-script entry point (errors and exit codes: see cli.errors.EntryPoint)."""
    app(prog_name="sloth-runner")


if __name__ == "__main__":
    main()
