"""`sloth-runner events`: the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli import output
from cli.context import CliState, JsonFlag, state
from cli.errors import Typer
from domain.errors import InvalidInput
from domain.values import INT64_MAX
from domain.wording import plural

if TYPE_CHECKING:
    from infrastructure.chaincheck import Checkpoint, Report
    from infrastructure.eventlog import EventLog

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


SEAL_HINT = "run 'sloth-runner events seal' to chain them"


@app.command("seal")
def seal(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Chain the events stored before the log was chained (once; recorded as log.sealed)."""
    from commands.sealing import LogSealer

    st = state(ctx)
    runtime = st.runtime()
    log = runtime.event_log()
    sealed = LogSealer(runtime.store(), log.chain).seal(st.invocation())
    if sealed.events:
        st.written()
    if st.wants_json(json_output):
        output.emit_json({"sealed": sealed.events, "position": sealed.position or None,
                          "head": sealed.head or None})
    elif sealed.events:
        output.say(f"{output.tick()} Sealed the log: {plural(sealed.events, 'event')} chained, "
                   f"up to position {sealed.position}; head {sealed.head}")
    else:
        output.say("Nothing to seal: every event is chained")


@app.command("verify")
def verify(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Option(
        "--stack", "-s", help="Report on this stack's events only; the chain is still "
        "verified over the whole log up to its last event.")] = None,
    start_at: Annotated[int | None, typer.Option(
        "--from", min=1, max=INT64_MAX, metavar="POSITION",
        help="Start at this position, trusting the link before it.")] = None,
    checkpoint_file: Annotated[str | None, typer.Option(
        "--checkpoint", metavar="FILE",
        help="Also prove nothing up to this checkpoint's position changed since it was taken.")
    ] = None,
    export_file: Annotated[str | None, typer.Option(
        "--file", metavar="FILE",
        help="Verify an export of the whole log (events export) instead of the database.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Walk the event chain and report its first break (exit 1), or that it is intact."""
    from cli.errors import UsageProblem
    from cli.progress import progress_bar

    st = state(ctx)
    as_json = st.wants_json(json_output)
    if start_at is not None and checkpoint_file is not None:
        raise UsageProblem("--checkpoint verifies from the first event: leave out --from")
    if export_file is not None and (stack is not None or start_at is not None):
        raise UsageProblem("--file verifies a whole export: leave out --stack and --from")
    checkpoint = _read_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    report: Report
    if export_file is not None:
        report = _verify_file(export_file, checkpoint)
    else:
        from infrastructure.chaincheck import verify_log

        log = st.runtime().event_log()
        originator = _stack_hex(log, stack) if stack is not None else None
        bar = progress_bar("verifying", log.head() - (start_at or 1) + 1, json=as_json)
        try:
            report = verify_log(log, originator_id=originator, start_at=start_at,
                                checkpoint=checkpoint, progress=bar)
        finally:
            if bar is not None:
                bar.close()
    _report_verification(report, stack, checkpoint is not None, as_json)


def _stack_hex(log: EventLog, name: str) -> str:
    from domain.errors import StackNotFound
    from domain.names import stack_id, validate_stack_name

    identity = stack_id(validate_stack_name(name)).hex
    if log.chain.last_position_of(identity) is None:
        raise StackNotFound(name)
    return identity


def _read_checkpoint(path: str) -> Checkpoint:
    import orjson

    from cli.errors import UsageProblem
    from infrastructure.chaincheck import Checkpoint

    try:
        with open(path, "rb") as handle:
            document = orjson.loads(handle.read())
    except (OSError, ValueError) as exc:  # (ValueError: a NUL in the path)
        if isinstance(exc, orjson.JSONDecodeError):
            document = None
        else:
            raise UsageProblem(f"cannot read checkpoint {output.printable(path)}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
    position = document.get("position") if isinstance(document, dict) else None
    digest = document.get("hash") if isinstance(document, dict) else None
    if (not isinstance(position, int) or isinstance(position, bool) or position < 1
            or not isinstance(digest, str) or len(digest) != 64):
        raise InvalidInput(f"{path} is not a checkpoint: expected a JSON object with a "
                           "position and a 64-digit hex hash ('sloth-runner events checkpoint "
                           "--json' writes one)")
    try:
        return Checkpoint(position, bytes.fromhex(digest))
    except ValueError:
        raise InvalidInput(f"{path} is not a checkpoint: its hash is not hex") from None


def _verify_file(path: str, checkpoint: Checkpoint | None) -> Report:
    from cli.errors import UsageProblem
    from infrastructure.chaincheck import Report, walk
    from projections.export import export_entries

    def chained() -> bool:
        with open(path, "rb") as again:
            return any(entry.link is not None for entry in export_entries(again, path))

    try:
        with open(path, "rb") as handle:
            found = walk(export_entries(handle, path), chained=chained, checkpoint=checkpoint)
    except (OSError, ValueError) as exc:  # (ValueError: a NUL in the path)
        raise UsageProblem(f"cannot read export {output.printable(path)}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    return Report(found, 1, None)


def _report_verification(report: Report, stack: str | None, with_checkpoint: bool,
                         as_json: bool) -> None:
    walked, broken = report.walk, report.walk.broken
    if as_json:
        output.emit_json({
            "ok": broken is None, "checked": walked.checked, "first": report.first,
            "last": walked.position, "head": walked.digest.hex(),
            "stack": stack, "stack_events": report.stack_events,
            "checkpoint_matched": walked.checkpoint_matched if with_checkpoint else None,
            "break": None if broken is None else {
                "kind": broken.kind.value, "position": broken.position,
                "message": broken.message, "other": broken.other}})
        if broken is not None:
            raise typer.Exit(1)
        return
    if broken is not None:
        from domain.errors import CheckFailed
        from infrastructure.chaincheck import BreakKind

        if broken.kind is BreakKind.UNSEALED:
            raise CheckFailed(f"{broken.message}; {SEAL_HINT}")
        raise CheckFailed(f"the event chain is broken at position {broken.position} "
                          f"({broken.kind.value}): {broken.message}")
    scope = (f"positions {report.first}-{walked.position}" if walked.checked
             else "no events")
    if stack is not None:
        line = (f"Stack '{output.printable(stack)}': {plural(report.stack_events or 0, 'event')}"
                f" verified; the chain checked over {plural(walked.checked, 'event')} "
                f"({scope})")
    else:
        line = f"Event log intact: {plural(walked.checked, 'event')} verified ({scope})"
    output.say(f"{output.tick()} {line}")
    if walked.checked:
        output.say(f"  head: {walked.digest.hex()}")
    if with_checkpoint:
        output.say("  matches the checkpoint")


@app.command("checkpoint")
def checkpoint(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Print the chain's head (position, hash, time): keep it elsewhere to verify against."""
    from domain.errors import CheckFailed
    from domain.timestamps import to_text
    from infrastructure.clock import now

    st = state(ctx)
    log = st.runtime().event_log()
    head = log.chain.link_before(INT64_MAX)
    newest = log.head()
    if head is None and newest:
        raise CheckFailed(f"the log is unsealed: there is no chain to checkpoint; {SEAL_HINT}")
    if head is None:
        raise CheckFailed("the log is empty: there is nothing to checkpoint yet")
    if head is not None and head.position != newest:
        raise CheckFailed(f"the newest event (position {newest}) is not chained; run "
                          "'sloth-runner events verify'")
    document = {"position": head.position, "hash": bytes(head.digest).hex(),
                "time": to_text(now()), "database": st.runtime().location()}
    if st.wants_json(json_output):
        output.emit_json(document)
        return
    output.say(f"Position: {document['position']}")
    output.say(f"Hash:     {document['hash']}")
    output.say(f"Time:     {document['time']}")
    output.say("Keep it elsewhere: 'sloth-runner events checkpoint --json > checkpoint.json', "
               "then 'sloth-runner events verify --checkpoint checkpoint.json'")


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
