"""`sloth-runner events`: the audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import output
from cli.context import CliState, JsonFlag, state
from cli.errors import Typer
from domain.errors import InvalidInput
from domain.values import INT64_MAX

app = Typer(no_args_is_help=True,
            help="Query, export and follow the audit log; deliver it to hooks.")

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


FOLLOW_POLL = 0.2
"""Seconds between two looks at the log's head while following it."""


@app.command("follow")
def follow(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Only this stack.")] = None,
    type_pattern: Annotated[
        str | None, typer.Option("--type", "-t", help="Event type, glob allowed: 'lock.*'.")
    ] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON document per event (JSON Lines), as events export writes.")
    ] = False,
) -> None:
    """Print events as they are recorded, like tail -f, until stopped (Ctrl-C, SIGTERM)."""
    from domain.names import stack_id, validate_stack_name

    st = state(ctx)
    wanted_stack = str(stack_id(validate_stack_name(stack))) if stack else None
    if type_pattern is not None:
        from domain.hooks import validate_event_globs

        validate_event_globs([type_pattern])
    with _stopped_by_signals() as stop:
        _follow(st, wanted_stack, type_pattern, st.wants_json(json_output), stop)
    if stop.interrupted:
        raise typer.Exit(130)


def _follow(st: CliState, wanted_stack: str | None, type_pattern: str | None, as_json: bool,
            stop: _Stop) -> None:
    import sys

    from domain.hooks import glob_matcher
    from infrastructure.hooks.definitions import StackNames
    from projections.export import event_document
    from projections.projectors.audit import summarize
    from projections.queries.stacks import stack_names

    runtime = st.runtime()
    store = runtime.store()
    log = runtime.event_log()
    names = StackNames(lambda: stack_names(st.reader()))
    types = glob_matcher([type_pattern]) if type_pattern else None
    after = log.head()
    while not stop.is_set():
        found = log.read(after, 500)
        for notification in found:
            after = notification.id
            if wanted_stack is not None and str(notification.originator_id) != wanted_stack:
                continue
            if types is not None and not types.fullmatch(notification.topic):
                continue
            name = names.of(notification)
            if as_json:
                output.emit_json_lines([event_document(notification,
                                                       {str(notification.originator_id): name})])
            else:
                try:
                    _, message = summarize(store.mapper.to_domain_event(notification))  # type: ignore[arg-type]
                except Exception:  # a type this release does not know (a plug-in's)
                    message = notification.topic
                document = event_document(notification, {})
                output.say("  ".join((str(notification.id),
                                      output.short_time(document["timestamp"]), name or "-",
                                      notification.topic, output.printable(document["actor"]),
                                      output.printable(message))))
            sys.stdout.flush()
        if len(found) < 500:
            stop.wait(FOLLOW_POLL)


@app.command("process")
def process(
    ctx: typer.Context,
    follow_log: Annotated[bool, typer.Option(
        "--follow", help="Keep running and deliver new events as they come, until stopped.")
    ] = False,
    once: Annotated[bool, typer.Option(
        "--once", help="Deliver what there is to deliver now, then exit (the default).")
    ] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, max=1000, help="Deliveries at once (default: hooks.workers, 100).")
    ] = None,
    queue: Annotated[int | None, typer.Option(
        "--queue", min=1, max=1_000_000,
        help="Events in hand at most (default: hooks.queue_size, 1000).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Deliver every event of the log, in order, to each hook that wants it."""
    from cli.errors import UsageProblem
    from infrastructure.hooks.processor import Processor

    st = state(ctx)
    if follow_log and once:
        raise UsageProblem("give --follow or --once, not both")
    settings = st.settings().hooks
    runtime = st.runtime()
    runtime.projections()  # refuses a read-only database before anything starts
    processor = Processor(runtime, workers=workers or settings.workers,
                          queue_size=queue or settings.queue_size,
                          poll_interval=settings.poll_interval.total_seconds())
    with _stopped_by_signals() as stop:
        summary = processor.run(follow=follow_log, stop=stop, hard_stop=stop.hard)
    if st.wants_json(json_output):
        output.emit_json(summary.to_json())
    else:
        output.say(f"Delivered {summary.delivered} event{'s' if summary.delivered != 1 else ''}"
                   f" to {summary.hooks} hook{'s' if summary.hooks != 1 else ''}; "
                   f"{summary.failed} failed, {summary.retried} retr"
                   f"{'ies' if summary.retried != 1 else 'y'} scheduled")
    if stop.interrupted:
        raise typer.Exit(130)


class _Stop:
    """Set by SIGTERM or Ctrl-C; a second signal sets `hard` (stop what is in flight too)."""

    def __init__(self) -> None:
        import threading

        self._event = threading.Event()
        self.hard = threading.Event()
        self.interrupted = False

    def set(self, interrupted: bool) -> None:
        if self._event.is_set():
            self.hard.set()
        self.interrupted = self.interrupted or interrupted
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


class _stopped_by_signals:
    """While inside: SIGTERM and SIGINT ask to stop (instead of killing or raising)."""

    def __enter__(self) -> _Stop:
        import signal
        import threading

        self.stop = _Stop()
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                number: signal.signal(number, lambda n, frame: self.stop.set(n == signal.SIGINT))
                for number in (signal.SIGTERM, signal.SIGINT)}
        return self.stop

    def __exit__(self, *exc: object) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)
