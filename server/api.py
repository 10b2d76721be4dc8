"""The REST API at `/api/v1`: what the CLI does, as JSON over HTTP.

Every endpoint parses its input, calls the use case or query the CLI calls, and renders the
same JSON as the CLI's `--json`. `server.openapi` describes each route; a test holds the two
together.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from domain.errors import InvalidInput, KeyNotFound, StackNotFound
from domain.names import stack_id
from domain.values import INT64_MAX
from server.app import Call, endpoint, json_response

PREFIX = "/api/v1"
PAGE = 100
MAX_PAGE = 1000
MAX_WAIT = timedelta(minutes=10)


# ---- parameters -----------------------------------------------------------------------

def _flag(call: Call, name: str) -> bool:
    value = call.params.get(name)
    if value is None:
        return False
    if value.lower() in ("", "1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(f"invalid {name} '{value[:40]}': use true or false", field=name)


def _whole(call: Call, name: str, *, low: int = 1, high: int = INT64_MAX) -> int | None:
    value = call.params.get(name)
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidInput(f"invalid {name} '{value[:40]}': a whole number from {low} to "
                           f"{high}", field=name)
    return int(value)


def _text(document: dict[str, Any], name: str, default: str = "") -> str:
    value = document.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {name}: expected a string", field=name)
    return value


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    return _text(document, name) if document.get(name) is not None else None


def _duration(document: dict[str, Any], name: str, default: timedelta | None) -> Any:
    from domain.durations import parse_duration

    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"invalid {name}: a duration such as 30m", field=name)
    return parse_duration(value, what=name, allow_zero=name == "wait")


def _known(call: Call, name: str | None = None) -> tuple[str, str]:
    """A stack that exists or existed (and that the token may see): (name, id)."""
    from projections.queries.stacks import is_known_stack

    stack = call.stack(name)
    identity = str(stack_id(stack))
    if not is_known_stack(call.runtime.reader(), identity):
        raise StackNotFound(stack)
    return stack, identity


def _outcome(call: Call, outcome: Any, status: int = 200, **extra: Any) -> Response:
    call.written()
    return json_response({**outcome.to_json(), **extra}, status)


# ---- stacks ---------------------------------------------------------------------------

def list_stacks(call: Call) -> Response:
    """Stacks with status, last run, executions (`all`: destroyed ones too)."""
    from projections.queries.stacks import list_stacks as query

    stacks = [s for s in query(call.runtime.reader(), include_destroyed=_flag(call, "all"))
              if call.caller.may_see(s.name)]
    return json_response({"stacks": [s.to_json() for s in stacks], "total": len(stacks)})


def create_stack(call: Call) -> Response:
    """Create a stack (a destroyed one's name again: its history stays)."""
    from commands.models import CreateStack

    body = call.object()
    name = call.stack(_text(body, "name"))
    depends_on = body.get("depends_on") or []
    if not isinstance(depends_on, list):
        raise InvalidInput("invalid depends_on: expected a list of stack names")
    command = CreateStack(stack=name, description=_text(body, "description"),
                          depends_on=depends_on)
    return _outcome(call, call.runtime.service().create_stack(command, call.invocation), 201)


def show_stack(call: Call) -> Response:
    """One stack: status, lock, counters, values and outputs; `at`/`at_event`: as it was."""
    from infrastructure.clock import now
    from projections.queries.executions import list_executions
    from projections.queries.locks import find_lock
    from projections.queries.stacks import find_stack

    name = call.stack()
    at, at_event = call.params.get("at"), _whole(call, "at_event")
    if at is not None or at_event is not None:
        return _stack_as_of(call, name, at, at_event)
    connection = call.runtime.reader()
    stack = find_stack(connection, name)
    if stack is None:
        raise StackNotFound(name)
    lock = find_lock(connection, stack.id)
    runs = list_executions(connection, stack.id, 1) if stack.execution_count else []
    return json_response({**stack.to_json(), "lock_status": _lock_state(lock, now()),
                          "lock": lock.to_json() if lock else None,
                          "last_run": runs[0].to_json() if runs else None})


def _lock_state(lock: Any, at: Any) -> str:
    from domain.timestamps import from_text

    if lock is None:
        return "UNLOCKED"
    return "EXPIRED" if from_text(lock.expires_at) <= at else "LOCKED"


def _stack_as_of(call: Call, name: str, at: str | None, at_event: int | None) -> Response:
    from domain.timestamps import parse_timestamp
    from projections.timetravel import stack_as_of

    if at is not None and at_event is not None:
        raise InvalidInput("give at or at_event, not both")
    moment = parse_timestamp(at, what="at") if at is not None else None
    past = stack_as_of(call.runtime.store(), call.runtime.reader(), name, at=moment,
                       event_id=at_event)
    return json_response(past.to_json())


def destroy_stack(call: Call) -> Response:
    """Destroy a stack (`force`: even though the caller holds its lock); history stays."""
    from commands.models import DestroyStack

    name = call.stack()
    command = DestroyStack(stack=name, reason=call.params.get("reason", ""),
                           force=_flag(call, "force"))
    return _outcome(call, call.runtime.service().destroy_stack(command, call.invocation))


def stack_history(call: Call) -> Response:
    """Every change to a stack, newest first."""
    from projections.queries.events import stack_history as query

    name, identity = _known(call)
    entries = query(call.runtime.reader(), identity, _whole(call, "limit"))
    return json_response({"stack": name, "history": [e.to_json() for e in entries]})


def _values(call: Call, kind: str) -> tuple[str, dict[str, Any]]:
    from projections.queries.stacks import find_stack

    name = call.stack()
    stack = find_stack(call.runtime.reader(), name)
    if stack is None:
        raise StackNotFound(name)
    return name, stack.values if kind == "values" else stack.outputs


def get_state(call: Call) -> Response:
    """The stack's state values."""
    return json_response(_values(call, "values")[1])


def get_state_value(call: Call) -> Response:
    """One state value."""
    name, values = _values(call, "values")
    key = call.path("key")
    if key not in values:
        raise KeyNotFound(name, key)
    return json_response(values[key])


def change_state(call: Call) -> Response:
    """Set state values (`set`, atomically) or delete them (`unset`)."""
    from commands.models import SetValues, UnsetValues

    name = call.stack()
    body = call.object()
    unknown = set(body) - {"set", "unset"}
    if unknown or ("set" in body) == ("unset" in body):
        raise InvalidInput('give {"set": {KEY: VALUE, ...}} or {"unset": [KEY, ...]}')
    service = call.runtime.service()
    if "set" in body:
        command: Any = SetValues(stack=name, values=body["set"])
        return _outcome(call, service.set_values(command, call.invocation))
    command = UnsetValues(stack=name, keys=body["unset"])
    return _outcome(call, service.unset_values(command, call.invocation))


def get_outputs(call: Call) -> Response:
    """The stack's outputs (a Terraform stack's sensitive ones read `<sensitive>`)."""
    return json_response(_values(call, "outputs")[1])


def get_output(call: Call) -> Response:
    """One output."""
    name, outputs = _values(call, "outputs")
    key = call.path("key")
    if key not in outputs:
        raise KeyNotFound(name, key, "output")
    return json_response(outputs[key])


def change_outputs(call: Call) -> Response:
    """Set (`set`) and delete (`unset`) outputs, atomically."""
    from commands.models import ChangeOutputs

    name = call.stack()
    body = call.object()
    unknown = set(body) - {"set", "unset"}
    if unknown or not body:
        raise InvalidInput('give {"set": {KEY: VALUE, ...}, "unset": [KEY, ...]}')
    command = ChangeOutputs(stack=name, set=body.get("set") or {}, unset=body.get("unset") or [])
    return _outcome(call, call.runtime.service().change_outputs(command, call.invocation))


# ---- locks ----------------------------------------------------------------------------

def list_locks(call: Call) -> Response:
    """Every stack whose lock is present (LOCKED, or EXPIRED and not taken over)."""
    from infrastructure.clock import now
    from projections.queries.locks import list_locks as query

    at = now()
    locks = [lock for lock in query(call.runtime.reader()) if call.caller.may_see(lock.stack)]
    return json_response({"locks": [dict(lock.to_json(), status=_lock_state(lock, at))
                                    for lock in locks], "total": len(locks)})


def lock_status(call: Call) -> Response:
    """LOCKED, UNLOCKED or EXPIRED, with the lock."""
    from infrastructure.clock import now
    from projections.queries.locks import find_lock

    name, identity = _known(call)
    lock = find_lock(call.runtime.reader(), identity)
    return json_response({"stack": name, "status": _lock_state(lock, now()),
                          "lock": lock.to_json() if lock else None})


def acquire_lock(call: Call) -> Response:
    """Take the lock (`wait`: up to that long, at most 10m); the answer holds its lock id."""
    from commands.models import AcquireLock

    name = call.stack()
    body = call.object()
    wait = _duration(body, "wait", None)
    if wait is not None and wait > MAX_WAIT:
        raise InvalidInput("invalid wait: at most 10m over HTTP", field="wait")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput("invalid metadata: expected an object of strings", field="metadata")
    command = AcquireLock(
        stack=name, ttl=_duration(body, "ttl", call.runtime.settings.stacks.lock_timeout),
        wait=wait, locked_by=_optional_text(body, "locked_by"),
        operation=_text(body, "operation"), reason=_text(body, "reason"), metadata=metadata)
    return _outcome(call, call.runtime.service().acquire_lock(command, call.invocation), 201)


def renew_lock(call: Call) -> Response:
    """Extend the holder's lease to `ttl` from now."""
    from commands.models import RenewLock

    name = call.stack()
    ttl = _duration(call.object(), "ttl", call.runtime.settings.stacks.lock_timeout)
    return _outcome(call, call.runtime.service().renew_lock(RenewLock(stack=name, ttl=ttl),
                                                            call.invocation))


def release_lock(call: Call) -> Response:
    """Release the lock (the holder only: its actor, or `X-Lock-Id`)."""
    from commands.models import ReleaseLock

    name = call.stack()
    command = ReleaseLock(stack=name, unlocked_by=call.params.get("unlocked_by"))
    return _outcome(call, call.runtime.service().release_lock(command, call.invocation))


def force_release_lock(call: Call) -> Response:
    """Remove anyone's lock (`lock_id`: only if it still has that id), on record."""
    from commands.models import ForceReleaseLock

    name = call.stack()
    body = call.object()
    command = ForceReleaseLock(stack=name, reason=_text(body, "reason"),
                               lock_id=_optional_text(body, "lock_id"))
    return _outcome(call, call.runtime.service().force_release_lock(command, call.invocation))


# ---- snapshots ------------------------------------------------------------------------

def list_snapshots(call: Call) -> Response:
    """A stack's snapshots, newest first (`all`: deleted ones too)."""
    from projections.queries.versions import list_versions

    name, identity = _known(call)
    versions = list_versions(call.runtime.reader(), identity, include_deleted=_flag(call, "all"))
    live = sum(1 for v in versions if v.deleted_at is None)
    return json_response({"stack": name, "snapshots": [v.to_json(with_state=False)
                                                       for v in versions], "total": live})


def create_snapshot(call: Call) -> Response:
    """Capture the current state as the next version."""
    from commands.models import CreateSnapshot

    name = call.stack()
    body = call.object()
    command = CreateSnapshot(stack=name, description=_text(body, "description"),
                             creator=_optional_text(body, "creator"))
    return _outcome(call, call.runtime.service().create_snapshot(command, call.invocation), 201)


def _version(call: Call, text: str | None = None) -> Any:
    from projections.versions import live_version

    name, identity = _known(call)
    return live_version(call.runtime.reader(), name, identity,
                        text if text is not None else call.path("version"))


def show_snapshot(call: Call) -> Response:
    """A snapshot and the full state it names."""
    return json_response(_version(call).to_json())


def delete_snapshot(call: Call) -> Response:
    """Withdraw a version (its number is never reused)."""
    from commands.models import DeleteSnapshot

    name = call.stack()
    record = _version(call)
    command = DeleteSnapshot(stack=name, version=record.version)
    return _outcome(call, call.runtime.service().delete_snapshot(command, call.invocation))


def compare_snapshots(call: Call) -> Response:
    """What changed from `from` to `to` (a version, or `current`)."""
    from projections.versions import compare_versions

    name, _ = _known(call)
    first, second = call.params.get("from"), call.params.get("to")
    for parameter, text in (("from", first), ("to", second)):
        if not text:
            raise InvalidInput(f"give {parameter}: a version (v5 or 5) or current")
    compared = compare_versions(call.runtime.store(), call.runtime.reader(), name, first, second)
    return json_response(compared.to_json())


def restore_snapshot(call: Call) -> Response:
    """Roll forward to a version after an automatic backup (`dry_run`: only what changes)."""
    from commands.models import RestoreSnapshot

    name = call.stack()
    record = _version(call)
    command = RestoreSnapshot(stack=name, version=record.version)
    service = call.runtime.service()
    if _flag(call, "dry_run"):
        diff = service.plan_restore(command)
        return json_response({"stack": name, "version": record.version, "dry_run": True,
                              "changes": diff.model_dump(mode="json"), "empty": diff.is_empty})
    return _outcome(call, service.restore_snapshot(command, call.invocation))


# ---- events ---------------------------------------------------------------------------

def list_events(call: Call) -> Response:
    """The audit log with the CLI's filters; `after` pages forward (`next_after`)."""
    from domain.timestamps import parse_timestamp, to_text
    from projections.queries.events import EventFilter
    from projections.queries.events import list_events as query

    params = call.params
    stack = params.get("stack")
    after = _whole(call, "after", low=0)
    limit = _whole(call, "limit", high=MAX_PAGE) or (PAGE if after is not None else None)
    since, until = params.get("since"), params.get("until")
    records = query(call.runtime.reader(), EventFilter(
        stack_id=_known(call, stack)[1] if stack else None, type_pattern=params.get("type"),
        actor=params.get("actor"),
        since=to_text(parse_timestamp(since, what="since")) if since else None,
        until=to_text(parse_timestamp(until, what="until")) if until else None,
        limit=limit, after=after, stack_ids=call.visible_stack_ids()))
    more = after is not None and limit is not None and len(records) == limit
    return json_response({"events": [r.to_json() for r in records], "total": len(records),
                          "next_after": records[-1].id if more else None})


def export_events(call: Call) -> Response:
    """The raw event log as JSON Lines, in log order, streamed."""
    import orjson

    from infrastructure.runtime import Runtime
    from projections.export import export_events as documents
    from projections.queries.stacks import stack_names

    stack = call.params.get("stack")
    only = _known(call, stack)[1] if stack else None
    visible = call.visible_stack_ids()
    names = stack_names(call.runtime.reader())
    settings = call.runtime.settings

    def lines() -> Iterator[bytes]:
        # Its own runtime: the stream is read from whichever worker thread sends it.
        runtime = Runtime(settings)
        try:
            for document in documents(runtime.event_log(), names, only):
                if visible is None or document["stack_id"] in visible:
                    yield orjson.dumps(document) + b"\n"
        finally:
            runtime.close()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


# ---- dependencies and validation ------------------------------------------------------

def show_deps(call: Call) -> Response:
    """What a stack depends on (`reverse`: what depends on it; `transitive`: all the way)."""
    from projections.graph import DependencyGraph
    from projections.queries.dependencies import find_dependencies, find_dependents

    name = call.stack()
    connection = call.runtime.reader()
    graph = DependencyGraph.load(connection)
    if not graph.exists(name):
        raise StackNotFound(name)
    reverse, transitive = _flag(call, "reverse"), _flag(call, "transitive")
    depths = graph.reach(name, reverse=reverse, transitive=transitive)
    records = (find_dependents(connection, name) if reverse
               else find_dependencies(connection, str(stack_id(name))))
    direct = {(record.stack if reverse else record.depends_on): record for record in records}
    entries = [{"name": other, "status": graph.status(other), "depth": depth,
                "added_at": direct[other].added_at if other in direct else None,
                "added_by": direct[other].added_by if other in direct else None}
               for other, depth in depths.items() if call.caller.may_see(other)]
    return json_response({"stack": name, "direction": "dependents" if reverse else "dependencies",
                          "transitive": transitive, "stacks": entries, "total": len(entries)})


def deps_order(call: Call) -> Response:
    """An execution order in levels (`stack` repeated, or `all`); 409 on a cycle."""
    from domain.dependencies import DESTROYED, MISSING
    from projections.graph import DependencyGraph

    stacks = [call.stack(name) for name in call.params.getlist("stack")]
    every = _flag(call, "all")
    if bool(stacks) == every:
        raise InvalidInput("name stacks (stack=A&stack=B) or give all=true, not both")
    graph = DependencyGraph.load(call.runtime.reader())
    for name in stacks:
        if not graph.exists(name):
            raise StackNotFound(name)
    levels = [[name for name in level if call.caller.may_see(name)]
              for level in graph.order(stacks or None)]
    levels = [level for level in levels if level]
    flat = [name for level in levels for name in level]
    return json_response({"levels": levels, "order": flat, "total": len(flat),
                          "missing": [n for n in flat if graph.status(n) == MISSING],
                          "destroyed": [n for n in flat if graph.status(n) == DESTROYED]})


def validate_stack(call: Call) -> Response:
    """Run the pre-flight checks of one stack and record them."""
    name = call.stack()
    validations = _validate(call, [name])
    return json_response(validations[0].to_json())


def validate_stacks(call: Call) -> Response:
    """Validate the named stacks (`stacks`), or every live one the token may see."""
    from projections.queries.stacks import list_stacks as query

    body = call.object()
    names = body.get("stacks")
    if names is None:
        names = [s.name for s in query(call.runtime.reader(), include_destroyed=False)
                 if call.caller.may_see(s.name)]
    elif not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput("invalid stacks: expected a list of stack names")
    reports = [v.to_json() for v in _validate(call, [call.stack(n) for n in names])]
    failed = sum(not report["passed"] for report in reports)
    return json_response({"stacks": reports, "total": len(reports), "failed": failed,
                          "passed": len(reports) - failed})


def _validate(call: Call, names: list[str]) -> list[Any]:
    config = call.runtime.settings.config_path
    validations = call.runtime.validator().validate(
        names, call.invocation, check_drift=_flag(call, "check_drift"),
        config_path=str(config) if config else None) if names else []
    call.written()
    return validations


def openapi_document(call: Call) -> Response:
    """This API's OpenAPI 3.1 document."""
    from server.openapi import document

    return json_response(document())


# ---- routing --------------------------------------------------------------------------

ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("/stacks", "GET", list_stacks),
    ("/stacks", "POST", create_stack),
    ("/stacks/{stack}", "GET", show_stack),
    ("/stacks/{stack}", "DELETE", destroy_stack),
    ("/stacks/{stack}/history", "GET", stack_history),
    ("/stacks/{stack}/state", "GET", get_state),
    ("/stacks/{stack}/state", "PATCH", change_state),
    ("/stacks/{stack}/state/{key:path}", "GET", get_state_value),
    ("/stacks/{stack}/outputs", "GET", get_outputs),
    ("/stacks/{stack}/outputs", "PATCH", change_outputs),
    ("/stacks/{stack}/outputs/{key:path}", "GET", get_output),
    ("/locks", "GET", list_locks),
    ("/stacks/{stack}/lock", "GET", lock_status),
    ("/stacks/{stack}/lock", "POST", acquire_lock),
    ("/stacks/{stack}/lock", "DELETE", release_lock),
    ("/stacks/{stack}/lock/renew", "POST", renew_lock),
    ("/stacks/{stack}/lock/force-release", "POST", force_release_lock),
    ("/stacks/{stack}/snapshots", "GET", list_snapshots),
    ("/stacks/{stack}/snapshots", "POST", create_snapshot),
    ("/stacks/{stack}/snapshots/compare", "GET", compare_snapshots),
    ("/stacks/{stack}/snapshots/{version}", "GET", show_snapshot),
    ("/stacks/{stack}/snapshots/{version}", "DELETE", delete_snapshot),
    ("/stacks/{stack}/snapshots/{version}/restore", "POST", restore_snapshot),
    ("/events", "GET", list_events),
    ("/events/export", "GET", export_events),
    ("/stacks/{stack}/deps", "GET", show_deps),
    ("/deps/order", "GET", deps_order),
    ("/stacks/{stack}/validate", "POST", validate_stack),
    ("/validate", "POST", validate_stacks),
    ("/openapi.json", "GET", openapi_document),
)
"""(path under /api/v1, method, handler), in matching order."""


def routes() -> list[Route]:
    return [Route(PREFIX + path, endpoint(handler), methods=[method],
                  name=f"{method.lower()} {path}") for path, method, handler in ROUTES]
