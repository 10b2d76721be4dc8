"""`sloth-runner stack lock`: leases that protect a stack from everyone but their holder."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from cli import lockview, output
from cli.confirm import confirm_or_refuse
from cli.context import JsonFlag, LockIdOption, state
from cli.errors import Typer

app = Typer(no_args_is_help=True, help="Acquire, inspect, renew and release stack locks.")

StackArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]


def _now() -> datetime:
    from infrastructure.clock import now

    return now()


@app.command("acquire")
def acquire(
    ctx: typer.Context,
    stack: StackArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the stack is locked.")] = "",
    locked_by: Annotated[
        str | None, typer.Option("--locked-by", help="Holder name (default: your actor).")
    ] = None,
    operation: Annotated[str, typer.Option("--operation", help="What is being done.")] = "",
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="Lease length, e.g. 30m (default: lock_timeout).")
    ] = None,
    wait: Annotated[
        str | None, typer.Option("--wait", help="Wait up to this long for a held lock, e.g. 5m.")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="KEY=VALUE, repeatable.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Acquire the stack's lock; prints the lock id that proves you hold it."""
    from commands.models import AcquireLock, parse_metadata
    from domain.durations import parse_duration

    st = state(ctx)
    lease = parse_duration(ttl, what="--ttl") if ttl is not None else (
        st.settings().stacks.lock_timeout)
    patience = parse_duration(wait, what="--wait", allow_zero=True) if wait is not None else None
    command = AcquireLock(stack=stack, ttl=lease, wait=patience, locked_by=locked_by,
                          operation=operation, reason=reason,
                          metadata=parse_metadata(metadata or []))

    def waiting(lock: object) -> None:
        holder = output.printable(lock.describe())  # type: ignore[attr-defined]
        message = f"waiting for the lock on '{stack}', held by {holder} (up to {wait})"
        output.notice("waiting", message, prose=f"{message}...", json=st.wants_json(json_output))

    outcome = st.service().acquire_lock(command, st.invocation(), on_wait=waiting)
    st.written()
    lock = outcome.detail["lock"]
    if st.wants_json(json_output):
        output.emit_json(outcome.to_json())
        return
    output.say(f"{output.tick()} Lock acquired for stack '{stack}'")
    output.say()
    for line in lockview.status_lines(stack, lock, _now(), st.color())[3:]:
        output.say(line)
    output.say()
    output.say(f"Present the lock id to prove you hold it: --lock-id {lock.lock_id} "
               f"(or SLOTH_RUNNER_LOCK_ID)")


@app.command("release")
def release(
    ctx: typer.Context,
    stack: StackArg,
    unlocked_by: Annotated[
        str | None, typer.Option("--unlocked-by", help="Who releases (must be the holder).")
    ] = None,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Release the stack's lock (only its holder can)."""
    from commands.models import ReleaseLock

    st = state(ctx)
    outcome = st.service().release_lock(ReleaseLock(stack=stack, unlocked_by=unlocked_by),
                                        st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Lock released for stack '{stack}'")


@app.command("status")
def status(ctx: typer.Context, stack: StackArg, json_output: JsonFlag = False) -> None:
    """Show whether the stack is LOCKED, UNLOCKED or its lease EXPIRED, and by whom."""
    from projections.queries.locks import find_lock

    st = state(ctx)
    lock = find_lock(st.reader(), st.known_stack(stack))
    now = _now()
    if st.wants_json(json_output):
        document: dict[str, Any] = {"stack": stack, "status": "UNLOCKED", "lock": None}
        if lock is not None:
            document.update(status=lockview.lock_state(lock.expires_at, now), lock=lock.to_json())
        output.emit_json(document)
        return
    for line in lockview.status_lines(stack, lock, now, st.color()):
        output.say(line)


@app.command("renew")
def renew(
    ctx: typer.Context,
    stack: StackArg,
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="New lease from now (default: lock_timeout).")
    ] = None,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Extend your lease (a heartbeat for long runs)."""
    from commands.models import RenewLock
    from domain.durations import parse_duration

    st = state(ctx)
    lease = parse_duration(ttl, what="--ttl") if ttl is not None else (
        st.settings().stacks.lock_timeout)
    outcome = st.service().renew_lock(RenewLock(stack=stack, ttl=lease),
                                      st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Lock on '{stack}' renewed until "
              f"{outcome.detail['lock'].expires_at:%Y-%m-%d %H:%M:%S} UTC")


def _force_release(
    ctx: typer.Context,
    stack: str,
    lock_id: str | None,
    reason: str,
    yes: bool,
    json_output: bool,
) -> None:
    from commands.models import ForceReleaseLock

    st = state(ctx)
    command = ForceReleaseLock(stack=stack, reason=reason, lock_id=lock_id)
    confirm_or_refuse(f"Force-release the lock on '{stack}'? Its holder will not be told.",
                      yes=yes, what=f"force-release the lock on '{stack}'")
    outcome = st.service().force_release_lock(command, st.invocation())
    removed = outcome.detail["lock"]
    st.finish(outcome, json_output, f"{output.tick()} Lock {removed.lock_id} held by "
              f"{removed.locked_by} force-released on '{stack}' (recorded in the audit log)")


ForceLockId = Annotated[
    str | None, typer.Option("--lock-id", help="Only if the lock still has this id.")
]
ForceReason = Annotated[str, typer.Option("--reason", help="Why (recorded).")]
ForceYes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.command("force-release")
def force_release(ctx: typer.Context, stack: StackArg, lock_id: ForceLockId = None,
                  reason: ForceReason = "", yes: ForceYes = False,
                  json_output: JsonFlag = False) -> None:
    """Release anyone's lock in an emergency; who did it and why are recorded."""
    _force_release(ctx, stack, lock_id, reason, yes, json_output)


@app.command("force-unlock", hidden=False)
def force_unlock(ctx: typer.Context, stack: StackArg, lock_id: ForceLockId = None,
                 reason: ForceReason = "", yes: ForceYes = False,
                 json_output: JsonFlag = False) -> None:
    """Same as force-release (Terraform's name for it)."""
    _force_release(ctx, stack, lock_id, reason, yes, json_output)


@app.command("list")
def list_locks(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Every stack whose lock is present: LOCKED, or EXPIRED and not yet taken over."""
    from projections.queries.locks import list_locks as query

    st = state(ctx)
    locks = query(st.reader())
    now = _now()
    if st.wants_json(json_output):
        output.emit_json({"locks": [dict(lock.to_json(),
                                         status=lockview.lock_state(lock.expires_at, now))
                                    for lock in locks], "total": len(locks)})
        return
    if not locks:
        output.say("No stack is locked.")
        return
    rows = [[lock.stack, lockview.lock_state(lock.expires_at, now), lock.locked_by,
             lock.operation or "-", output.short_time(lock.locked_at),
             lockview.relative(lockview._moment(lock.expires_at), now)] for lock in locks]
    for line in output.table(["STACK", "STATUS", "LOCKED BY", "OPERATION", "LOCKED AT",
                              "EXPIRES"], rows, colour_column=1, colour=st.color()):
        output.say(line)
    output.say()
    output.say(f"Total: {len(locks)} lock{'s' if len(locks) != 1 else ''}")
