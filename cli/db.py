"""`sloth-runner db`: the database itself — create its tables, show its state, copy it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from cli import output
from cli.context import JsonFlag, path_text, state
from cli.errors import Typer, UsageProblem

if TYPE_CHECKING:
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

app = Typer(no_args_is_help=True,
            help="The database: create its tables, show its state, copy it to another one.")

BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
PROGRESS_FROM = 10_000
"""Copies of at least this many events show their progress on stderr."""


@app.command("init")
def init(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Create the tables (events, read models) where they are missing; nothing else changes.

    Every command does the same on first use; this one does only that.
    """
    from projections.schema import SCHEMA_VERSION

    st = state(ctx)
    runtime = st.runtime()
    runtime.connection()
    if st.wants_json(json_output):
        output.emit_json({"backend": runtime.backend, "location": runtime.location(),
                          "schema_version": SCHEMA_VERSION})
        return
    output.say(f"{output.tick()} {BACKEND_NAMES[runtime.backend]} database "
               f"{output.printable(runtime.location())} is ready (schema {SCHEMA_VERSION})")


@app.command("status")
def status(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Show the backend, where the database is, its schema version, events and lag."""
    from infrastructure.eventlog import event_count, head_position
    from projections.queries.positions import lag

    st = state(ctx)
    runtime = st.runtime()
    connection = runtime.connection()
    version = connection.dialect.schema_version(connection)
    document = {"backend": runtime.backend, "location": runtime.location(),
                "schema_version": version, "events": event_count(connection),
                "head": head_position(connection), "lag": lag(connection)}
    if st.wants_json(json_output):
        output.emit_json(document)
        return
    rows = [("Backend", BACKEND_NAMES[runtime.backend]),
            ("Location", output.printable(runtime.location())),
            ("Schema version", str(version)),
            ("Events", f"{document['events']:,}"),
            ("Head position", f"{document['head']:,}"),
            ("Projection lag", f"{document['lag']:,}")]
    for label, value in rows:
        output.say(f"{label + ':':<16} {value}")


FromOption = Annotated[str | None, typer.Option(
    "--from", metavar="PATH_OR_URL", parser=path_text,
    help="The database to copy (default: the one --db/--database-url names).")]
ToOption = Annotated[str, typer.Option(
    "--to", metavar="PATH_OR_URL", parser=path_text,
    help="An empty database: a SQLite file or postgresql:// URL.")]


@app.command("copy")
def copy(ctx: typer.Context, to: ToOption, source: FromOption = None,
         json_output: JsonFlag = False) -> None:
    """Copy the whole event log into an empty database, SQLite or PostgreSQL, either way.

    Order, positions, ids, timestamps and stored bytes are kept; the copy is verified (count
    and a digest of every stored event) before it commits, then the target's read models
    are rebuilt from it.
    """
    from infrastructure.eventlog import event_count
    from infrastructure.logcopy import copy_log
    from infrastructure.runtime import Runtime

    st = state(ctx)
    started = time.perf_counter()
    origin = Runtime(_settings(source, "--from")) if source else st.runtime()
    target = Runtime(_settings(to, "--to"))
    try:
        total = event_count(origin.connection())
        show = _progress(total) if total >= PROGRESS_FROM and not st.wants_json(
            json_output) else None
        copying = time.perf_counter()
        copied = copy_log(origin.store(), target.connection(), progress=show,
                          described=_where(target))
        copy_seconds = time.perf_counter() - copying
        if show is not None:
            _end_progress()
        rebuilt = target.projections().rebuild()
    finally:
        if source:
            origin.close()
        target.close()
    elapsed = time.perf_counter() - started
    if st.wants_json(json_output):
        output.emit_json({"from": _where(origin), "to": _where(target), "events": copied.events,
                          "snapshots": copied.snapshots, "last_position": copied.last,
                          "digest": f"sha256:{copied.digest}", "rebuilt": rebuilt,
                          "copy_seconds": round(copy_seconds, 3),
                          "seconds": round(elapsed, 3)})
        return
    output.say(f"{output.tick()} Copied {copied.events:,} event{'s' if copied.events != 1 else ''}"
               f" from {output.printable(_where(origin))} to "
               f"{output.printable(_where(target))} in {elapsed:.2f}s")
    output.say(f"  verified: {copied.events:,} events, sha256:{copied.digest}")
    output.say(f"  read models rebuilt from {rebuilt:,} events")


def _settings(value: str, flag: str) -> Settings:
    from infrastructure.settings import database_named, settings_for

    database = database_named(value)
    if flag == "--from" and database.path is not None and not database.path.is_file():
        raise UsageProblem(f"{flag} {value}: no such database file")
    return settings_for(database)


def _where(runtime: Runtime) -> str:
    return f"{BACKEND_NAMES[runtime.backend]} {runtime.location()}"


def _progress(total: int) -> Callable[[int], None]:
    """Report copied events on stderr: a line that updates itself on a terminal, else a line
    at every tenth."""
    terminal = sys.stderr.isatty()
    tenths = [0]  # the last tenth reported

    def show(done: int) -> None:
        percent = done * 100 // max(total, 1)
        if terminal:
            sys.stderr.write(f"\rcopying events: {done:,} of {total:,} ({percent}%)")
        elif percent // 10 > tenths[0]:
            tenths[0] = percent // 10
            sys.stderr.write(f"copying events: {done:,} of {total:,} ({percent}%)\n")
        sys.stderr.flush()

    return show


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
