"""`sloth-runner projections`: read-model maintenance."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli import output
from cli.context import CliState, JsonFlag, state
from cli.errors import Typer, UsageProblem
from domain.values import INT64_MAX

app = Typer(no_args_is_help=True, help="Inspect and rebuild the read models.")


@app.command("status")
def status(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Show each projection's position in the event log and its lag."""
    from projections.queries.positions import projection_status

    st = state(ctx)
    rows = projection_status(st.runtime().connection())
    if st.wants_json(json_output):
        output.emit_json({"projections": [r.to_json() for r in rows]})
        return
    table = [[r.name, str(r.version), str(r.position), str(r.head), str(r.lag),
              output.short_time(r.updated_at)] for r in rows]
    for line in output.table(["PROJECTION", "VERSION", "POSITION", "HEAD", "LAG", "UPDATED"],
                             table):
        output.say(line)


@app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    until: Annotated[
        str | None, typer.Option("--until", help="Only events up to this time (ISO 8601).")
    ] = None,
    until_event: Annotated[
        int | None, typer.Option("--until-event", max=INT64_MAX, help="Only events up to this log position.")
    ] = None,
    into: Annotated[
        str | None,
        typer.Option("--into", metavar="PATH", help="Build into this new database instead."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Drop every read model and rebuild it from the first event.

    With --until/--until-event and --into, build a separate database holding the log and
    every read model as they were at that point; open it with --db PATH.
    """
    st = state(ctx)
    started = time.perf_counter()
    if until is not None and until_event is not None:
        raise UsageProblem("give --until or --until-event, not both")
    if (until is not None or until_event is not None) and into is None:
        raise UsageProblem("--until/--until-event need --into PATH: the live read models "
                           "always follow the whole log")
    if until_event is not None and until_event < 0:
        raise UsageProblem(f"invalid --until-event {until_event}: must be 0 or more")
    if into is None:
        count = st.runtime().projections().rebuild()
        target = None
    else:
        count, target = _rebuild_into(st, Path(into), until, until_event)
    elapsed = time.perf_counter() - started
    if st.wants_json(json_output):
        output.emit_json({"events": count, "seconds": round(elapsed, 3),
                          "into": str(target) if target else None})
        return
    where = f" into {target}" if target else ""
    output.say(f"{output.tick()} Rebuilt every read model from {count} events{where} "
               f"in {elapsed:.2f}s")
    if target:
        output.say(f"Read it with: sloth-runner --db {target} stack list")


def _rebuild_into(st: CliState, target: Path, until: str | None,
                  until_event: int | None) -> tuple[int, Path]:
    from domain.errors import Conflict
    from domain.timestamps import parse_timestamp, to_text
    from infrastructure.logcopy import copy_log
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings
    from projections.queries.events import event_ids_until

    until_time = to_text(parse_timestamp(until, what="--until")) if until else None
    target = target.expanduser()
    settings = st.settings()
    try:
        occupied = target.exists() and target.stat().st_size > 0
        same = not settings.database_url and (
            target.resolve() == settings.db_path.expanduser().resolve())
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageProblem(f"cannot use '{target}' for --into: {reason}") from None
    if occupied:
        raise Conflict(f"{target} already exists; choose a new path for --into")
    if same:
        raise UsageProblem("--into must be a different database")
    # Per stack, the events up to a time are a prefix: a stream's timestamps never go back.
    only = event_ids_until(st.reader(), until_time) if until_time is not None else None
    source = st.runtime().store()
    fork = Runtime(Settings(db_path=target))
    try:
        copy_log(source, fork.connection(), until=until_event, only=only)
        return fork.projections().rebuild(), target
    finally:
        fork.close()
