"""`sloth-runner projections`: read-model maintenance."""

from __future__ import annotations

import time

import typer

from cli import output
from cli.context import JsonFlag, state
from cli.errors import Typer

app = Typer(no_args_is_help=True, help="Inspect and rebuild the read models.")


@app.command("status")
def status(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Show each projection's position in the event log and its lag."""
    from projections.queries import projection_status

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
def rebuild(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Drop every read model and rebuild it from the first event."""
    st = state(ctx)
    started = time.perf_counter()
    count = st.runtime().projections().rebuild()
    elapsed = time.perf_counter() - started
    if st.wants_json(json_output):
        output.emit_json({"events": count, "seconds": round(elapsed, 3)})
        return
    output.say(f"{output.tick()} Rebuilt every read model from {count} events "
               f"in {elapsed:.2f}s")
