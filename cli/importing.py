"""`sloth-runner import`: bring stacks in from the original Go sloth-runner, Terraform state
files and Pulumi exports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.context import CliState, JsonFlag, path_text, state
from cli.errors import Typer
from domain.wording import entries, plural

if TYPE_CHECKING:
    from commands.go_import import GoImportReport, StackImport
    from commands.importing import Importer
    from domain.invocation import Invocation
    from infrastructure.runtime import Runtime

app = Typer(no_args_is_help=True,
            help="Bring stacks in from the Go sloth-runner, Terraform and Pulumi.")

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would be imported; write "
                                                        "nothing.")]
StackOption = Annotated[str, typer.Option("--stack", "-s", help="The stack to import into "
                                                                "(created if missing).",
                                          show_default=False)]
NOTES_SHOWN = 10


@app.command("go")
def go(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="PATH", parser=path_text, show_default=False,
                                        help="The Go sloth-runner's database (read-only).")],
    stacks: Annotated[list[str] | None, typer.Option(
        "--stack", "-s", help="Only this stack (repeatable).")] = None,
    dry_run: DryRun = False,
    json_output: JsonFlag = False,
) -> None:
    """Import the stacks of the original Go sloth-runner's database, with their history.

    The database is only read. Each stack is imported in one write; running the import
    again records nothing new. Exit 1 when a stack had to be skipped.
    """
    from commands.go_import import plan_go_import
    from commands.importing import Importer
    from infrastructure.clock import now
    from infrastructure.go_database import read_go_database

    st = state(ctx)
    source = Path(path).expanduser()
    _refuse_the_target(st, source)
    database = read_go_database(source)
    # Planned before the database to import into is opened: what cannot be imported at all
    # (a --stack the Go database does not hold) leaves no new file behind.
    plan = plan_go_import(
        database.tables, file=path, only=list(dict.fromkeys(stacks or [])),
        providers=st.runtime().providers(), lock_ttl=st.settings().stacks.lock_timeout,
        at=now())
    plan.notes.extend(f"table {name} ({plural(count, 'row')}) is not imported"
                      for name, count in sorted(database.others.items()))
    with _target(st, dry_run) as runtime:
        report = Importer(runtime.service()).import_go(plan, _invocation(st), dry_run=dry_run)
        if not dry_run:
            runtime.catch_up()
    if st.wants_json(json_output):
        output.emit_json(report.to_json())
    else:
        _print_go(report)
    if report.skipped:
        raise typer.Exit(1)


@app.command("tfstate")
def tfstate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", parser=path_text, show_default=False,
                                        help="A Terraform state file (format 4); - for stdin.")],
    stack: StackOption,
    dry_run: DryRun = False,
    json_output: JsonFlag = False,
) -> None:
    """Import a Terraform state file into a stack, as `serve`'s Terraform backend takes it."""
    from commands.importing import read_tfstate
    from domain.names import validate_stack_name

    st = state(ctx)
    validate_stack_name(stack)
    source = read_tfstate(_read(file), file)
    with _target(st, dry_run) as runtime:
        outcome = _importer(runtime).import_tfstate(stack, source, _invocation(st),
                                                    dry_run=dry_run)
        if not dry_run:
            runtime.catch_up()
    if st.wants_json(json_output):
        output.emit_json(outcome.to_json())
        return
    state_ = outcome.detail["state"]
    sensitive = (f" ({len(state_.sensitive)} sensitive: {', '.join(state_.sensitive)})"
                 if state_.sensitive else "")
    what = (f"Terraform state serial {state_.serial} (lineage {state_.lineage})")
    if not outcome.detail["recorded"]:
        output.say(f"Nothing to import: stack '{stack}' holds this Terraform state already "
                   f"(serial {state_.serial})")
        return
    verb = "Would import" if dry_run else f"{output.tick()} Imported"
    created = " (a new stack)" if "stack.created" in outcome.events else ""
    version = outcome.detail["snapshot_version"]
    output.say(output.printable(
        f"{verb} {what} into stack '{stack}'{created} as v{version}: "
        f"{plural(len(state_.outputs), 'output')}{sensitive}, "
        f"{plural(outcome.detail['resources'], 'resource')}"))
    if dry_run:
        output.say("(dry run: nothing was written)")


@app.command("pulumi")
def pulumi(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", parser=path_text, show_default=False,
                                        help="The output of `pulumi stack export`; - for "
                                             "stdin.")],
    stack: StackOption,
    dry_run: DryRun = False,
    json_output: JsonFlag = False,
) -> None:
    """Import a Pulumi stack export: its outputs (secrets as `<secret>`) and resources."""
    from commands.importing import read_pulumi
    from domain.names import validate_stack_name

    st = state(ctx)
    validate_stack_name(stack)
    source = read_pulumi(_read(file), file)
    with _target(st, dry_run) as runtime:
        outcome = _importer(runtime).import_pulumi(stack, source, _invocation(st),
                                                   providers=runtime.providers(),
                                                   dry_run=dry_run)
        if not dry_run:
            runtime.catch_up()
    detail = outcome.detail
    if st.wants_json(json_output):
        output.emit_json(outcome.to_json())
        return
    origin = "/".join(part for part in (detail["project"], detail["pulumi_stack"]) if part)
    if not detail["recorded"]:
        output.say(output.printable(f"Nothing to import: stack '{stack}' has the outputs and "
                                    f"resources of Pulumi stack {origin or file} already"))
        return
    verb = "Would import" if dry_run else f"{output.tick()} Imported"
    secrets = (f" ({len(detail['secrets'])} secret: {', '.join(detail['secrets'])}, kept as "
               "<secret>)" if detail["secrets"] else "")
    created = " (a new stack)" if "stack.created" in outcome.events else ""
    output.say(output.printable(
        f"{verb} Pulumi stack {origin or file} into stack '{stack}'{created}: "
        f"{plural(len(detail['outputs']), 'output')}{secrets}, "
        f"{plural(detail['resources'], 'resource')}"))
    _print_notes([str(note) for note in detail["notes"]])
    if dry_run:
        output.say("(dry run: nothing was written)")


# ---- helpers --------------------------------------------------------------------------------

def _invocation(st: CliState) -> Invocation:
    from domain.invocation import Source

    return st.invocation().model_copy(update={"source": Source.IMPORT})


def _importer(runtime: Runtime) -> Importer:
    from commands.importing import Importer

    return Importer(runtime.service(), runtime.documents())


def _read(file: str) -> bytes:
    """The file's bytes (`-`: standard input); an unreadable file is a usage error."""
    from domain.errors import InvalidInput

    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from None


def _refuse_the_target(st: CliState, source: Path) -> None:
    """The Go tool's database is read, never written: it cannot be the one to import into."""
    from domain.errors import InvalidInput

    target = st.settings().db_path.expanduser()
    try:
        same = source.resolve() == target.resolve() or (
            target.exists() and source.exists() and source.samefile(target))
    except OSError:
        same = False
    if same:
        raise InvalidInput(
            f"{source} is also the database to import into (the default database, --db or "
            f"SLOTH_RUNNER_DB); import into another one: sloth-runner --db NEW.db import go "
            f"{source}")


@contextmanager
def _target(st: CliState, dry_run: bool) -> Iterator[Runtime]:
    """The database to import into. A dry run where there is none yet decides against an
    empty one in a temporary directory, so that it creates nothing."""
    runtime = st.runtime()
    path = runtime.settings.db_path.expanduser()
    if not dry_run or (path.is_file() and path.stat().st_size > 0):
        yield runtime
        return
    import tempfile

    from infrastructure.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="sloth-runner-dry-run-") as directory:
        throwaway = Runtime(runtime.settings._replace(db_path=Path(directory) / "stacks.db",
                                                      db_is_default=False))
        try:
            yield throwaway
        finally:
            throwaway.close()


def _print_go(report: GoImportReport) -> None:
    from commands.go_import import ALREADY_IMPORTED, SKIPPED

    imported, skipped = report.imported, report.skipped
    already = [s for s in report.stacks if s.result == ALREADY_IMPORTED]
    totals = (f"{plural(report.total('versions'), 'version')}, "
              f"{plural(report.total('runs'), 'execution')}, "
              f"{entries(report.total('history'))}, "
              f"{plural(sum(1 for s in imported if s.lock is not None), 'lock')}")
    also = f"; {len(already)} imported already" if already else ""
    if imported:
        verb = "Would import" if report.dry_run else f"{output.tick()} Imported"
        output.say(output.printable(f"{verb} {plural(len(imported), 'stack')} from "
                                    f"{report.file}: {totals}{also}"))
    elif already:
        output.say(output.printable(f"Nothing to import from {report.file}: "
                                    f"{plural(len(already), 'stack')} imported already"))
    else:
        output.say(output.printable(f"Nothing imported from {report.file}"))
    shown = [s for s in report.stacks if s.result != SKIPPED]
    if shown:
        output.say()
        for line in output.table(
                ["STACK", "RESULT", "VERSIONS", "EXECUTIONS", "HISTORY", "RESOURCES",
                 "OUTPUTS", "LOCK"], [_row(s) for s in shown]):
            output.say(line)
    if skipped:
        output.say()
        output.say(f"Skipped ({len(skipped)}):")
        for item in skipped:
            output.say(output.printable(f"  {item.name}: {item.reason}"))
    _print_notes([f"{s.name}: {note}" for s in report.stacks if s.counted for note in s.notes]
                 + report.notes)
    if report.dry_run:
        output.say()
        output.say("(dry run: nothing was written)")


def _row(item: StackImport) -> list[str]:
    if not item.counted:
        return [item.name, item.result, "-", "-", "-", "-", "-", "-"]
    lock = (f"{item.lock.locked_by} until {item.lock.expires_at:%Y-%m-%d %H:%M}"
            if item.lock is not None else "-")
    return [item.name, item.result, str(item.versions), str(item.runs), str(item.history),
            str(item.resources), str(item.outputs), lock]


def _print_notes(notes: list[Any]) -> None:
    if not notes:
        return
    output.say()
    output.say(f"Notes ({len(notes)}):")
    for note in notes[:NOTES_SHOWN]:
        output.say(output.printable(f"  {note}"))
    if len(notes) > NOTES_SHOWN:
        output.say(f"  ... and {len(notes) - NOTES_SHOWN} more (--json lists them all)")
