"""`sloth-runner stack snapshot`: numbered versions of a stack, restore, compare, prune."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import output
from cli.confirm import confirm_or_refuse
from cli.context import CliState, JsonFlag, LockIdOption, state
from cli.errors import Typer, UsageProblem
from cli.secretview import ShowSecrets
from domain.values import INT64_MAX
from domain.wording import listed, plural

if TYPE_CHECKING:
    from domain.versions import StateDiff

app = Typer(no_args_is_help=True, help="Versioned snapshots of a stack: restore, compare, prune.")

StackArg = Annotated[str, typer.Argument(help="Stack name.", show_default=False)]
VersionArg = Annotated[str, typer.Argument(help="Version: v5 or 5.", show_default=False)]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _live_version(st: CliState, name: str, text: str) -> Any:
    """The read-model record of a live version; raises not found / deleted (exit 4)."""
    from projections.versions import live_version

    identity = st.known_stack(name)
    return live_version(st.reader(), name, identity, text)


@app.command("create")
def create(
    ctx: typer.Context,
    stack: StackArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What it captures.")] = "",
    creator: Annotated[str | None, typer.Option("--creator", help="Who (default: you).")] = None,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Capture the stack's current state as the next version (v1, v2, ...)."""
    from commands.models import CreateSnapshot

    st = state(ctx)
    command = CreateSnapshot(stack=stack, description=description, creator=creator)
    outcome = st.service().create_snapshot(command, st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output, f"{output.tick()} Snapshot "
              f"v{outcome.detail['snapshot'].version} of stack '{stack}' created")


@app.command("list")
def list_snapshots(
    ctx: typer.Context,
    stack: StackArg,
    all_versions: Annotated[bool, typer.Option("--all", "-a", help="Include deleted versions.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """List a stack's snapshots, newest first."""
    from projections.queries.versions import list_versions

    st = state(ctx)
    identity = st.known_stack(stack)
    versions = list_versions(st.reader(), identity, include_deleted=all_versions)
    live = sum(1 for v in versions if v.deleted_at is None)
    if st.wants_json(json_output):
        output.emit_json({"stack": stack, "snapshots": [v.to_json(with_state=False)
                                                        for v in versions], "total": live})
        return
    output.say(f"Snapshots for stack: {stack}")
    output.say()
    if not versions:
        output.say("No snapshots yet. Take one with: sloth-runner stack snapshot create "
                   f"{stack} --description TEXT")
    else:
        rows = [[f"v{v.version}", v.creator,
                 v.description + (" (deleted)" if v.deleted_at else ""),
                 output.short_time(v.created_at)] for v in versions]
        for line in output.table(["Version", "Creator", "Description", "Created At"], rows,
                                 min_widths=(9, 15, 27), full_rule=True):
            output.say(line)
    output.say()
    output.say(f"Total: {live} snapshot{'s' if live != 1 else ''}")


@app.command("show")
def show(ctx: typer.Context, stack: StackArg, version: VersionArg,
         show_secrets: ShowSecrets = False, json_output: JsonFlag = False) -> None:
    """Show a snapshot: who took it, when, and the full state it names."""
    from cli.secretview import revealed_state

    st = state(ctx)
    record = _live_version(st, stack, version)
    snapshot_state = revealed_state(st, show_secrets, stack, record.state)
    if st.wants_json(json_output):
        output.emit_json({**record.to_json(), "state": snapshot_state})
        return
    output.say(f"Snapshot v{record.version} of stack: {stack}")
    output.say(f"  Creator:       {output.printable(record.creator)}")
    output.say(f"  Description:   {output.printable(record.description or '-')}")
    output.say(f"  Created at:    {output.short_time(record.created_at)}")
    output.say(f"  Position:      event {record.event_id} (stack event {record.position})")
    _state_block(snapshot_state)


def _state_block(snapshot_state: dict[str, Any]) -> None:
    output.say()
    output.say("State:")
    output.say(f"  Description:   {output.printable(snapshot_state.get('description') or '-')}")
    output.say(f"  Status:        {snapshot_state.get('status')}")
    for title, key in (("State values", "values"), ("Outputs", "outputs")):
        items = snapshot_state.get(key, {})
        output.say(f"  {title} ({len(items)}):")
        for item_key, value in items.items():
            output.say(f"    {item_key} = {output.value_text(value)}")
    dependencies = snapshot_state.get("dependencies", [])
    output.say(f"  Dependencies ({len(dependencies)}): {', '.join(dependencies) or '-'}")
    resources = snapshot_state.get("resources", {})
    output.say(f"  Resources ({len(resources)}):")
    for name, resource in resources.items():
        output.say(f"    {output.printable(name)} ({output.printable(resource['type'])}) = "
                   f"{output.value_text(resource['attributes'])}")


def _diff_lines(diff: StateDiff) -> list[str]:
    from domain.secrets import is_secret

    lines = []
    for change in (diff.description, diff.status):
        if change is not None:
            lines.append(f"  ~ {change.key}: {output.value_text(change.before)} -> "
                         f"{output.value_text(change.after)}")
    if diff.terraform is not None:
        lines.append(f"  ~ Terraform state: {_document(diff.terraform.before)} -> "
                     f"{_document(diff.terraform.after)}")
    for title, section in (("State values", diff.values), ("Outputs", diff.outputs),
                           ("Resources", diff.resources), ("Dependencies", diff.dependencies)):
        if section.is_empty:
            continue
        if title == "Dependencies":
            lines.append(f"  {title}:")
            lines += [f"    + {c.key}" for c in section.added]
            lines += [f"    - {c.key}" for c in section.removed]
            continue
        lines.append(f"  {title}:")
        lines += [f"    + {c.key} = {output.value_text(c.after)}" for c in section.added]
        lines += [f"    - {c.key} = {output.value_text(c.before)}" for c in section.removed]
        lines += [f"    ~ {c.key}: changed (secret)" if is_secret(c.before) or is_secret(c.after)
                  else f"    ~ {c.key}: {output.value_text(c.before)} -> "
                       f"{output.value_text(c.after)}" for c in section.changed]
    return lines


def _document(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "none"
    return (f"serial {summary['serial']} (lineage {str(summary['lineage'])[:8]}, "
            f"sha256 {str(summary['sha256'])[:12]})")


@app.command("restore")
def restore(
    ctx: typer.Context,
    stack: StackArg,
    version: VersionArg,
    yes: YesFlag = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change.")] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Roll the stack forward to a version's state, after an automatic backup snapshot."""
    from commands.models import RestoreSnapshot

    st = state(ctx)
    record = _live_version(st, stack, version)
    command = RestoreSnapshot(stack=stack, version=record.version)
    if dry_run:
        diff = st.service().plan_restore(command)
        if st.wants_json(json_output):
            output.emit_json({"stack": stack, "version": record.version, "dry_run": True,
                              "changes": diff.model_dump(mode="json"), "empty": diff.is_empty})
            return
        output.say(f"Restoring stack '{stack}' to v{record.version} would change:")
        output.say("\n".join(_diff_lines(diff)) if not diff.is_empty else "  nothing")
        return
    confirm_or_refuse(f"Restore stack '{stack}' to v{record.version}?", yes=yes,
                      what=f"restore stack '{stack}'")
    outcome = st.service().restore_snapshot(command, st.invocation(lock_id=lock_id))
    backup, diff = outcome.detail["backup"], outcome.detail["diff"]
    st.finish(outcome, json_output, f"{output.tick()} Stack '{stack}' restored to "
              f"v{record.version} ({plural(diff.count, 'change')}; backup taken first as v{backup.version})")


@app.command("delete")
def delete(
    ctx: typer.Context,
    stack: StackArg,
    version: VersionArg,
    yes: YesFlag = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete a version: its number is never reused and its history stays."""
    from commands.models import DeleteSnapshot

    st = state(ctx)
    record = _live_version(st, stack, version)
    confirm_or_refuse(f"Delete snapshot v{record.version} of '{stack}'?", yes=yes,
                      what=f"delete snapshot v{record.version}")
    outcome = st.service().delete_snapshot(DeleteSnapshot(stack=stack, version=record.version),
                                           st.invocation(lock_id=lock_id))
    st.finish(outcome, json_output,
              f"{output.tick()} Snapshot v{record.version} of stack '{stack}' deleted")


@app.command("compare")
def compare(ctx: typer.Context, stack: StackArg, first: VersionArg, second: VersionArg,
            show_secrets: ShowSecrets = False, json_output: JsonFlag = False) -> None:
    """What changed from one version to another (`current` is the live state); a secret
    that changed reads `changed (secret)` unless --show-secrets."""
    from cli.secretview import revealed_state
    from projections.versions import compare_versions

    st = state(ctx)

    def opened(state_document: dict[str, Any]) -> dict[str, Any]:
        return revealed_state(st, show_secrets, stack, state_document)

    compared = compare_versions(st.runtime().store(), st.reader(), stack, first, second,
                                reveal=opened if show_secrets else None)
    diff = compared.diff
    if st.wants_json(json_output):
        output.emit_json(compared.to_json())
        return
    output.say(f"Comparing {compared.before} -> {compared.after} of stack: {stack}")
    output.say()
    if diff.is_empty:
        output.say("  No differences.")
        return
    for line in _diff_lines(diff):
        output.say(line)
    output.say()
    output.say(f"{diff.count} difference{'s' if diff.count != 1 else ''}")


@app.command("prune")
def prune(
    ctx: typer.Context,
    stack: Annotated[str | None, typer.Argument(help="Stack name (or --all).")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Every stack.")] = False,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Age, e.g. 30d (default: snapshot_retention)."),
    ] = None,
    keep: Annotated[int, typer.Option(
        "--keep", max=INT64_MAX, help="Always keep the newest N versions.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    lock_id: LockIdOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete old versions (as snapshot.deleted events), keeping the newest --keep."""
    from commands.models import PruneSnapshots
    from domain.durations import parse_duration
    from domain.errors import InvalidInput

    st = state(ctx)
    if (stack is None) == (not all_stacks):
        raise UsageProblem("give a STACK or --all (not both)")
    if keep < 0:
        raise InvalidInput(f"invalid --keep {keep}: must be 0 or more")
    age = parse_duration(older_than, what="--older-than") if older_than else (
        st.settings().stacks.snapshot_retention)
    if stack is not None:
        st.known_stack(stack)
        names = [stack]
    else:
        from projections.queries.stacks import list_stacks

        names = [summary.name for summary in list_stacks(st.reader(), include_destroyed=False)]
    results = []
    for name in names:
        command = PruneSnapshots(stack=name, older_than=age, keep=keep)
        outcome = st.service().prune_snapshots(command, st.invocation(lock_id=lock_id),
                                               dry_run=dry_run)
        results.append((name, outcome.detail["pruned"]))
    if not dry_run:
        st.written()
    if st.wants_json(json_output):
        output.emit_json({"dry_run": dry_run, "older_than": older_than, "keep": keep,
                          "stacks": [{"stack": n, "pruned": p} for n, p in results],
                          "total": sum(len(p) for _, p in results)})
        return
    verb = "Would delete" if dry_run else "Deleted"
    for name, pruned in results:
        if pruned:
            output.say(f"{verb} {len(pruned)} snapshot(s) of '{name}': "
                       f"{listed([f'v{v}' for v in pruned], 10)}")
    total = sum(len(p) for _, p in results)
    output.say(f"{verb} {total} snapshot{'s' if total != 1 else ''} in total")
