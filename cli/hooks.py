"""`sloth-runner hooks`: what runs when events are recorded, and what happened to each delivery."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.context import CliState, JsonFlag, state
from cli.errors import Typer, UsageProblem
from domain.values import INT64_MAX

if TYPE_CHECKING:
    from infrastructure.hooks.actions import AttemptResult
    from infrastructure.hooks.definitions import HookDefinition
    from infrastructure.hooks.tracking import Outcome

app = Typer(no_args_is_help=True,
            help="Run commands, webhooks or Lua functions when events are recorded.")

NameArg = Annotated[str, typer.Argument(help="Hook name.", show_default=False)]
DEFAULT_DELIVERIES = 50


@app.command("add")
def add(
    ctx: typer.Context,
    name: NameArg,
    on: Annotated[list[str] | None, typer.Option(
        "--on", metavar="GLOB", help="Event types to deliver, globs allowed ('lock.*'); repeatable.")
    ] = None,
    stacks: Annotated[list[str] | None, typer.Option(
        "--stack", metavar="GLOB", help="Only events of these stacks ('prod-*'); repeatable.")
    ] = None,
    run: Annotated[str | None, typer.Option(
        "--run", metavar="'CMD ARGS'", help="Run this command (words split like a shell's; no "
        "shell unless --shell), the event as JSON on stdin.")] = None,
    shell: Annotated[bool, typer.Option("--shell", help="Run --run through /bin/sh.")] = False,
    url: Annotated[str | None, typer.Option(
        "--url", help="POST the event as JSON to this http(s) URL.")] = None,
    secret_env: Annotated[str | None, typer.Option(
        "--secret-env", metavar="VAR", help="Sign webhooks with the secret in this environment "
        "variable (its name is stored, never the secret).")] = None,
    lua: Annotated[str | None, typer.Option(
        "--lua", metavar="FILE:FUNCTION", help="Call this function of a .sloth/.lua file with "
        "the event as a table.")] = None,
    timeout: Annotated[str | None, typer.Option(
        "--timeout", help="Time limit of one attempt, e.g. 30s (default 10s).")] = None,
    retries: Annotated[int | None, typer.Option(
        "--retries", min=0, max=100, help="Attempts after the first, with doubling waits "
        "(default 5).")] = None,
    from_start: Annotated[bool, typer.Option(
        "--from-start", help="Deliver the whole history, not only events after this one.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Add a hook: every event matching --on (and --stack) is delivered to it, in order."""
    from commands.hooks import AddHook
    from domain.durations import parse_duration
    from domain.hooks import (
        DEFAULT_RETRIES,
        DEFAULT_TIMEOUT,
        HookAction,
        HookSpec,
        split_lua_target,
        validate_event_globs,
        validate_hook_name,
    )

    st = state(ctx)
    validate_hook_name(name)
    validate_event_globs(on or [])
    given = [flag for flag, value in (("--run", run), ("--url", url), ("--lua", lua))
             if value is not None]
    if len(given) != 1:
        raise UsageProblem("give one action: --run 'CMD ARGS', --url URL or --lua FILE:FUNCTION"
                           if not given else f"give one action, not {' and '.join(given)}")
    if secret_env is not None and url is None:
        raise UsageProblem("--secret-env goes with --url")
    if shell and run is None:
        raise UsageProblem("--shell goes with --run")
    if run is not None:
        action = HookAction.command_line(run, shell=shell)
    elif url is not None:
        action = HookAction.webhook(url, secret_env or "")
    else:
        from pathlib import Path

        file, function = split_lua_target(lua or "")
        action = HookAction.lua(str(Path(file).expanduser().resolve()), function)
    spec = HookSpec.build(
        on=on or [], stacks=stacks or [], action=action,
        timeout=parse_duration(timeout, what="--timeout") if timeout else DEFAULT_TIMEOUT,
        retries=DEFAULT_RETRIES if retries is None else retries)
    outcome = st.runtime().hook_service().add(AddHook(name, spec, from_start), st.invocation())
    for glob in outcome.detail["unmatched"]:
        _warn(f"--on '{glob}' matches no event type this release records (a plug-in may add "
              "one); the hook was added")
    if secret_env and not _environment_has(secret_env):
        _warn(f"{secret_env} is not set here; whatever delivers to the hook needs it in its "
              "environment")
    begins = ("replaying the whole log first" if from_start
              else "from the next event on")
    st.finish(outcome, json_output, f"{output.tick()} Hook '{name}' added: "
              f"{output.printable(_action_text(spec))} for {', '.join(spec.on)} ({begins})")


def _environment_has(variable: str) -> bool:
    import os

    return bool(os.environ.get(variable))


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {output.printable(message)}\n")


def _action_text(spec: Any) -> str:
    return f"{spec.action.kind.value} {spec.action.describe()}"


@app.command("list")
def list_hooks(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List every hook: added ones and those the config file declares."""
    from infrastructure.hooks import tracking
    from infrastructure.hooks.definitions import hook_definitions

    st = state(ctx)
    connection = st.reader()
    hooks = hook_definitions(connection, st.settings().hooks)
    positions = tracking.tracking(connection)
    counts = tracking.counts(connection)
    if st.wants_json(json_output):
        output.emit_json({"hooks": [_hook_json(hook, positions.get(hook.name),
                                               counts.get(hook.name, {})) for hook in hooks],
                          "total": len(hooks)})
        return
    if not hooks:
        output.say("No hooks. Add one with: sloth-runner hooks add NAME --on GLOB --run 'CMD'")
        return
    rows = []
    for hook in hooks:
        place = positions.get(hook.name)
        rows.append([hook.name, hook.source, _state_word(hook), ", ".join(hook.spec.on),
                     ", ".join(hook.spec.stacks) or "*", _action_text(hook.spec),
                     str(place.position) if place else "-",
                     str(counts.get(hook.name, {}).get(tracking.FAILED, 0))])
    for line in output.table(["NAME", "SOURCE", "STATE", "ON", "STACKS", "ACTION", "POSITION",
                              "FAILED"], rows):
        output.say(line)
    output.say()
    output.say(f"Total: {len(hooks)} hook{'s' if len(hooks) != 1 else ''}")


def _state_word(hook: HookDefinition) -> str:
    if hook.shadowed:
        return "shadowed"
    return "enabled" if hook.enabled else "disabled"


def _hook_json(hook: HookDefinition, place: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {"name": hook.name, "source": hook.source, "state": _state_word(hook),
            "enabled": hook.enabled, "on": hook.spec.on, "stacks": hook.spec.stacks,
            "action": hook.spec.action.model_dump(mode="json"),
            "timeout_ms": hook.spec.timeout_ms, "retries": hook.spec.retries,
            "from_start": hook.from_start, "incarnation": hook.incarnation,
            "position": place.position if place else None,
            "delivering": place.owner if place else None,
            "deliveries": {"delivered": counts.get("delivered", 0),
                           "retrying": counts.get("retrying", 0),
                           "failed": counts.get("failed", 0)}}


@app.command("show")
def show(ctx: typer.Context, name: NameArg, json_output: JsonFlag = False) -> None:
    """Show a hook: its definition, where it stands in the log and its deliveries."""
    from infrastructure.eventlog import head_position
    from infrastructure.hooks import tracking
    from infrastructure.hooks.definitions import find_definition
    from projections.queries.hooks import find_hook

    st = state(ctx)
    connection = st.reader()
    hook = find_definition(connection, st.settings().hooks, name)
    place = tracking.tracking(connection, [name]).get(name)
    counts = tracking.counts(connection).get(name, {})
    head = head_position(connection)
    record = find_hook(connection, name) if hook.source == "events" else None
    if st.wants_json(json_output):
        document = _hook_json(hook, place, counts)
        document["head"] = head
        if record is not None:
            document.update(added_at=record.added_at, added_by=record.added_by,
                            added_position=record.added_position)
        output.emit_json(document)
        return
    action = hook.spec.action
    signed = f" (signed with ${action.secret_env})" if action.secret_env else ""
    origin = (f"added by {record.added_by} at {output.short_time(record.added_at)} "
              f"(event {record.added_position})" if record is not None
              else f"the config file {st.settings().config_path}")
    start = ("the first event" if hook.from_start else
             f"after event {record.added_position}" if record is not None
             else "the log's head when first seen")
    lines = [
        f"Hook: {hook.name}",
        "",
        f"Defined:      {origin}",
        f"State:        {_state_word(hook)}",
        f"On:           {', '.join(hook.spec.on)}",
        f"Stacks:       {', '.join(hook.spec.stacks) or 'every stack (and events of none)'}",
        f"Action:       {_action_text(hook.spec)}{signed}",
        f"Timeout:      {_ms(hook.spec.timeout_ms)}",
        f"Retries:      {hook.spec.retries}",
        f"Starts:       {start}",
        f"Position:     {place.position if place else '-'} of {head}",
        f"Delivering:   {place.owner if place and place.owner else '-'}",
        f"Deliveries:   {counts.get('delivered', 0)} delivered, "
        f"{counts.get('retrying', 0)} retrying, {counts.get('failed', 0)} failed",
    ]
    for line in lines:
        output.say(output.printable(line))


def _ms(milliseconds: int) -> str:
    from datetime import timedelta

    from domain.durations import format_duration

    return format_duration(timedelta(milliseconds=milliseconds))


def _change(ctx: typer.Context, name: str, verb: str, json_output: bool) -> None:
    st = state(ctx)
    _refuse_config_hook(st, name, verb)
    service = st.runtime().hook_service()
    outcome = getattr(service, verb)(name, st.invocation())
    if verb == "remove":
        message = f"{output.tick()} Hook '{name}' removed (its deliveries stay readable)"
    elif outcome.detail.get("changed"):
        message = f"{output.tick()} Hook '{name}' {verb}d"
    else:
        message = f"No change: hook '{name}' is {verb}d already"
    st.finish(outcome, json_output, message)


def _refuse_config_hook(st: CliState, name: str, verb: str) -> None:
    from domain.errors import InvalidInput
    from domain.hooks import validate_hook_name
    from projections.queries.hooks import find_hook

    validate_hook_name(name)
    declared = any(hook.name == name for hook in st.settings().hooks.declared)
    if not declared:
        return
    added = find_hook(st.reader(), name)
    if added is None or added.removed_at is not None:
        raise InvalidInput(f"hook '{name}' is declared in the config file "
                           f"{st.settings().config_path}; {verb} it there", hook=name)


@app.command("remove")
def remove(ctx: typer.Context, name: NameArg, json_output: JsonFlag = False) -> None:
    """Remove a hook (its deliveries stay readable; the name can be added again)."""
    _change(ctx, name, "remove", json_output)


@app.command("enable")
def enable(ctx: typer.Context, name: NameArg, json_output: JsonFlag = False) -> None:
    """Resume deliveries to a hook, from where they stopped."""
    _change(ctx, name, "enable", json_output)


@app.command("disable")
def disable(ctx: typer.Context, name: NameArg, json_output: JsonFlag = False) -> None:
    """Pause deliveries to a hook (events keep coming; they wait for it)."""
    _change(ctx, name, "disable", json_output)


@app.command("test")
def test(
    ctx: typer.Context,
    name: NameArg,
    event: Annotated[str | None, typer.Option(
        "--event", metavar="TYPE", help="The type of the test event (default: the first type "
        "the hook listens to).")] = None,
    stack: Annotated[str | None, typer.Option(
        "--stack", metavar="NAME", help="The stack of the test event.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Deliver a synthetic event to a hook, once, and print what happened (not recorded)."""
    from commands.hooks import known_event_types
    from domain.names import validate_stack_name
    from infrastructure.hooks.actions import build_action
    from infrastructure.hooks.definitions import find_definition
    from infrastructure.hooks.delivery import LogEvent

    st = state(ctx)
    hook = find_definition(st.reader(), st.settings().hooks, name)
    kind = event or _first_type(hook.spec.on, known_event_types())
    if event is not None:
        from domain.hooks import validate_event_globs

        validate_event_globs([event])
        if any(c in event for c in "*?["):
            raise UsageProblem("--event takes an event type, not a glob")
    target = validate_stack_name(stack) if stack else _sample_stack(hook.spec.stacks)
    if not hook.spec.matches(kind, target):
        _warn(f"hook '{name}' does not listen to {kind} on stack '{target}'; delivering it "
              "anyway")
    from domain.timestamps import to_text
    from infrastructure.clock import now
    from infrastructure.identity import default_actor

    document = {"position": 0, "stack_id": "", "stack": target, "stack_version": 0,
                "type": kind, "timestamp": to_text(now()), "actor": default_actor(),
                "source": "cli", "correlation_id": st.correlation_id, "data": {},
                "synthetic": True}
    test_event = LogEvent(0, kind, target, document)
    delivery = test_event.delivery(name, 1, identity=f"{name}:test")
    action = build_action(hook.spec, log=_lua_log(name))
    try:
        result = action.deliver(delivery, lambda: None)
    finally:
        action.close()
    if st.wants_json(json_output):
        output.emit_json({"hook": name, "delivery_id": delivery.delivery_id, "event_type": kind,
                          "stack": target, "ok": result.ok, **_result_json(result)})
    elif result.ok:
        output.say(f"{output.tick()} Delivered a test {kind} event to hook '{name}' in "
                   f"{result.duration_ms}ms ({_result_text(result)})")
    else:
        output.say(f"{output.cross()} Test {kind} event to hook '{name}' failed after "
                   f"{result.duration_ms}ms: {output.printable(result.error)}")
    if not result.ok:
        raise typer.Exit(1)


def _lua_log(hook: str) -> Any:
    """A Lua hook's `log.*` lines on stderr (debug lines left out)."""
    def log(level: str, text: str) -> None:
        if level != "debug":
            sys.stderr.write(f"hook '{hook}' [{level}]: {output.printable(text)}\n")

    return log


def _first_type(globs: list[str], known: list[str]) -> str:
    from domain.hooks import glob_matcher

    for glob in globs:
        pattern = glob_matcher([glob])
        for kind in known:
            if pattern is not None and pattern.fullmatch(kind):
                return kind
    return globs[0]


def _sample_stack(globs: list[str]) -> str:
    if not globs:
        return "example-stack"
    sample = globs[0].replace("*", "example").replace("?", "x")
    return sample if "[" not in sample else "example-stack"


def _result_json(result: AttemptResult) -> dict[str, Any]:
    return {"duration_ms": result.duration_ms, "exit_code": result.exit_code,
            "http_status": result.http_status, "error": result.error}


def _result_text(result: Any) -> str:
    if result.http_status is not None:
        return f"HTTP {result.http_status}"
    if result.exit_code is not None:
        return f"exit {result.exit_code}"
    return "-"


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    name: NameArg,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed (dead-lettered) ones.")
                      ] = False,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, max=INT64_MAX, help=f"The newest N (default {DEFAULT_DELIVERIES}).")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """What happened to a hook's deliveries, newest first."""
    from infrastructure.hooks import tracking
    from infrastructure.hooks.definitions import known_hook

    st = state(ctx)
    connection = st.reader()
    known_hook(connection, st.settings().hooks, name)
    rows = tracking.deliveries(connection, name, failed_only=failed,
                               limit=limit or DEFAULT_DELIVERIES)
    if st.wants_json(json_output):
        output.emit_json({"hook": name, "deliveries": [_delivery_json(row) for row in rows],
                          "total": len(rows)})
        return
    if not rows:
        output.say("No failed deliveries." if failed else "No deliveries yet.")
        return
    table = [[output.short_time(row.last_attempt_at), tracking.delivery_id(row.hook, row.position),
              row.event_type, row.stack or "-", row.status, str(row.attempts),
              f"{row.duration_ms}ms", _result_text(row), row.error or "-"] for row in rows]
    for line in output.table(["TIME", "DELIVERY", "EVENT", "STACK", "STATUS", "ATTEMPTS",
                              "DURATION", "RESULT", "ERROR"], table):
        output.say(line)


def _delivery_json(row: Outcome) -> dict[str, Any]:
    from infrastructure.hooks import tracking

    return {"delivery_id": tracking.delivery_id(row.hook, row.position), "hook": row.hook,
            "position": row.position, "event_type": row.event_type, "stack": row.stack,
            "status": row.status, "attempts": row.attempts,
            "first_attempt_at": row.first_attempt_at, "last_attempt_at": row.last_attempt_at,
            "next_attempt_at": row.next_attempt_at, "duration_ms": row.duration_ms,
            "exit_code": row.exit_code, "http_status": row.http_status, "error": row.error}


@app.command("retry")
def retry(
    ctx: typer.Context,
    name: NameArg,
    delivery_id: Annotated[str | None, typer.Option(
        "--delivery", metavar="ID", help="The delivery to send again (HOOK:POSITION).")] = None,
    all_failed: Annotated[bool, typer.Option(
        "--all-failed", help="Send every failed delivery again, oldest first.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Send deliveries again now, one attempt each; exit 1 if any fails again."""
    from domain.errors import Conflict, NotFound
    from infrastructure.hooks import tracking
    from infrastructure.hooks.definitions import find_definition

    st = state(ctx)
    if (delivery_id is None) == (not all_failed):
        raise UsageProblem("give --delivery ID or --all-failed")
    connection = st.reader()
    hook = find_definition(connection, st.settings().hooks, name)
    if delivery_id is not None:
        parsed = tracking.parse_delivery_id(delivery_id)
        if parsed is None or parsed[0] != name:
            raise UsageProblem(f"invalid delivery id '{output.printable(delivery_id)}': use "
                               f"{name}:POSITION, as 'hooks deliveries {name}' shows")
        found = tracking.delivery(connection, name, parsed[1])
        if found is None:
            raise NotFound(f"delivery {delivery_id} not found", hook=name)
        if found.status == tracking.RETRYING:
            raise Conflict(f"delivery {delivery_id} is waiting for its next attempt; the "
                           "processor sends it (retry sends delivered or failed ones)", hook=name)
        chosen = [found]
    else:
        chosen = list(reversed(tracking.deliveries(connection, name, failed_only=True)))
    results = _send_again(st, hook, chosen)
    if st.wants_json(json_output):
        output.emit_json({"hook": name, "deliveries": [_delivery_json(row) for row in results],
                          "total": len(results)})
    elif not results:
        output.say("No failed deliveries.")
    for row in results if not st.wants_json(json_output) else []:
        identity = tracking.delivery_id(row.hook, row.position)
        if row.status == tracking.DELIVERED:
            output.say(f"{output.tick()} {identity} ({row.event_type}) delivered "
                       f"({_result_text(row)}, attempt {row.attempts})")
        else:
            output.say(f"{output.cross()} {identity} ({row.event_type}) failed again: "
                       f"{output.printable(row.error)}")
    if any(row.status != tracking.DELIVERED for row in results):
        raise typer.Exit(1)


def _send_again(st: CliState, hook: HookDefinition, chosen: list[Outcome]) -> list[Outcome]:
    from infrastructure.clock import now
    from infrastructure.hooks import tracking
    from infrastructure.hooks.actions import build_action
    from infrastructure.hooks.definitions import StackNames
    from infrastructure.hooks.delivery import LogEvent, deliver_once
    from projections.queries.stacks import stack_names

    if not chosen:
        return []
    runtime = st.runtime()
    log = runtime.event_log()
    connection = runtime.connection()
    names = StackNames(lambda: stack_names(connection))
    action = build_action(hook.spec, log=_lua_log(hook.name))
    results = []
    try:
        for row in chosen:
            found = log.read(row.position - 1, 1, until=row.position)
            if not found:
                continue
            event = LogEvent.of(found[0], names)
            result = deliver_once(action, hook, event, attempts=row.attempts + 1,
                                  should_stop=lambda: None)
            at = tracking.text_of(now())
            outcome = tracking.Outcome(
                hook=row.hook, position=row.position, event_type=row.event_type,
                stack=row.stack, status=tracking.DELIVERED if result.ok else tracking.FAILED,
                attempts=row.attempts + 1, first_attempt_at=row.first_attempt_at,
                last_attempt_at=at, duration_ms=result.duration_ms, exit_code=result.exit_code,
                http_status=result.http_status, error=result.error)
            with connection.write_transaction() as cursor:
                tracking.record_redelivery(cursor, outcome)
            results.append(outcome)
    finally:
        action.close()
    return results
