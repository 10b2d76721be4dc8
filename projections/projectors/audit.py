"""The `state_events` read model (the audit log): one row per event, with a one-line summary."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from functools import singledispatch
from typing import Any

import orjson

from domain.audit_log import AuditLog
from domain.drift import DriftStatus, FixMode
from domain.durations import format_duration
from domain.events import DomainEvent
from domain.hooks import Hook
from domain.secrets import MASK, is_secret, mask_deep
from domain.stack import Stack
from domain.timestamps import to_text
from domain.tokens import ApiToken
from domain.validation import CheckStatus
from domain.wording import entries, listed, plural, shortened
from infrastructure.sql import Cursor
from projections import schema
from projections.projectors import Projector, dump, upsert

INFO, WARNING, ERROR = "info", "warning", "error"



def shown(value: Any, limit: int = 60) -> str:
    """A value as it reads in a one-line summary (a secret as `[secret]`)."""
    if is_secret(value):
        return MASK
    return shortened(orjson.dumps(mask_deep(value)).decode(), limit)


@singledispatch
def summarize(event: DomainEvent) -> tuple[str, str]:
    """The severity and one-line message of an event."""
    return INFO, type(event).TOPIC


@summarize.register
def _(event: Stack.Created) -> tuple[str, str]:
    described = f" ({shown(event.description)})" if event.description else ""
    return INFO, f"stack '{event.name}' created{described}"


@summarize.register
def _(event: Stack.Updated) -> tuple[str, str]:
    changes = []
    if event.description is not None:
        changes.append(f"description set to {shown(event.description)}")
    if event.status is not None:
        changes.append(f"status set to {event.status.value}")
    return INFO, "stack updated: " + ", ".join(changes)


@summarize.register
def _(event: Stack.Destroyed) -> tuple[str, str]:
    because = f" ({shown(event.reason)})" if event.reason else ""
    return WARNING, f"stack destroyed{because}"


@summarize.register
def _(event: Stack.StateSet) -> tuple[str, str]:
    return INFO, f"state '{event.key}' set to {shown(event.value)}"


@summarize.register
def _(event: Stack.StateDeleted) -> tuple[str, str]:
    return INFO, f"state '{event.key}' deleted"


@summarize.register
def _(event: Stack.OutputSet) -> tuple[str, str]:
    return INFO, f"output '{event.key}' set to {shown(event.value)}"


@summarize.register
def _(event: Stack.OutputDeleted) -> tuple[str, str]:
    return INFO, f"output '{event.key}' deleted"


@summarize.register
def _(event: Stack.SecretsRotated) -> tuple[str, str]:
    sealed = [*([plural(len(event.values), "state value")] if event.values else []),
              *([plural(len(event.outputs), "output")] if event.outputs else [])]
    were = f" (were under {', '.join(event.previous_key_ids)})" if event.previous_key_ids else ""
    return INFO, f"secrets sealed again under key {event.key_id}: {' and '.join(sealed)}{were}"


@summarize.register
def _(event: Stack.LockAcquired) -> tuple[str, str]:
    doing = f" for {shown(event.operation)}" if event.operation else ""
    because = f": {shown(event.reason)}" if event.reason else ""
    return INFO, f"lock {event.lock_id[:8]} acquired by {event.locked_by}{doing}{because}" + (
        f" (generation {event.generation}, until {to_text(event.expires_at)[:19]}Z)")


@summarize.register
def _(event: Stack.LockRenewed) -> tuple[str, str]:
    return INFO, f"lock {event.lock_id[:8]} renewed until {to_text(event.expires_at)[:19]}Z"


@summarize.register
def _(event: Stack.LockReleased) -> tuple[str, str]:
    return INFO, f"lock {event.lock_id[:8]} released by {event.released_by}"


@summarize.register
def _(event: Stack.LockForceReleased) -> tuple[str, str]:
    because = f": {shown(event.reason)}" if event.reason else ""
    return WARNING, (f"lock {event.lock_id[:8]} held by {event.holder} force-released by "
                     f"{event.actor}{because}")


@summarize.register
def _(event: Stack.LockExpired) -> tuple[str, str]:
    return WARNING, (f"lock {event.lock_id[:8]} held by {event.holder} had expired at "
                     f"{to_text(event.expired_at)[:19]}Z; taken over")


@summarize.register
def _(event: Stack.SnapshotCreated) -> tuple[str, str]:
    described = f": {shown(event.description)}" if event.description else ""
    return INFO, f"snapshot v{event.version} created by {event.creator}{described}"


@summarize.register
def _(event: Stack.SnapshotDeleted) -> tuple[str, str]:
    return INFO, f"snapshot v{event.version} deleted"


@summarize.register
def _(event: Stack.SnapshotRestored) -> tuple[str, str]:
    state = event.state
    return WARNING, (f"restored to snapshot v{event.version} ({len(state.values)} values, "
                     f"{len(state.outputs)} outputs, {len(state.dependencies)} dependencies, "
                     f"{len(state.resources)} resources, status {state.status})")


@summarize.register
def _(event: Stack.DependencyAdded) -> tuple[str, str]:
    return INFO, f"now depends on '{event.depends_on}'"


@summarize.register
def _(event: Stack.DependencyRemoved) -> tuple[str, str]:
    return INFO, f"no longer depends on '{event.depends_on}'"


def _counted(event: Stack.ValidationPassed | Stack.ValidationFailed) -> str:
    counts = Counter(check.status for check in event.checks)
    parts = [f"{len(event.checks)} checks"] + [
        f"{counts[status]} {label}"
        for status, label in ((CheckStatus.FAIL, "failed"), (CheckStatus.WARN, "warnings"))
        if counts[status]]
    return ", ".join(parts)


@summarize.register
def _(event: Stack.ValidationPassed) -> tuple[str, str]:
    return INFO, f"validation passed ({_counted(event)})"


@summarize.register
def _(event: Stack.ValidationFailed) -> tuple[str, str]:
    first = next(check for check in event.checks if check.status == "fail")
    return WARNING, (f"validation failed ({_counted(event)}): {first.check}: "
                     f"{shortened(first.reason, 80)}")


@summarize.register
def _(event: Stack.ResourceDeclared) -> tuple[str, str]:
    needs = f", depends on {listed(event.depends_on)}" if event.depends_on else ""
    return INFO, f"resource '{event.name}' ({event.type}) declared{needs}"


@summarize.register
def _(event: Stack.ResourceUpdated) -> tuple[str, str]:
    what = f": {listed(event.changed)}" if event.changed else ""
    return INFO, f"resource '{event.name}' ({event.type}) changed{what}"


@summarize.register
def _(event: Stack.ResourceRemoved) -> tuple[str, str]:
    return INFO, f"resource '{event.name}' no longer declared"


@summarize.register(Stack.DriftDetected)
@summarize.register(Stack.DriftChecked)
def _(event: Stack.DriftDetected | Stack.DriftChecked) -> tuple[str, str]:
    total = event.checked
    drifted = [r.name for r in event.resources if r.status is DriftStatus.DRIFTED]
    unknown = [r.name for r in event.resources if r.status is DriftStatus.UNKNOWN]
    if not drifted and not unknown:
        return INFO, f"no drift: {plural(total, 'resource')} in sync"
    parts = ([f"{len(drifted)} of {total} drifted ({listed(drifted)})"] if drifted else []) + (
        [f"{len(unknown)} unknown ({listed(unknown)})"] if unknown else [])
    return WARNING, "drift detected: " + "; ".join(parts)


@summarize.register
def _(event: Stack.DriftFixed) -> tuple[str, str]:
    done = [f.name for f in event.resources if f.succeeded]
    failed = [f.name for f in event.resources if not f.succeeded]
    verb = "adopted as desired state" if event.mode is FixMode.ACCEPT else "repaired"
    message = f"drift fix: {len(done)} {verb}" + (f" ({listed(done)})" if done else "")
    if failed:
        return ERROR, message + f"; {len(failed)} failed ({listed(failed)})"
    return INFO, message


@summarize.register
def _(event: Stack.ExecutionStarted) -> tuple[str, str]:
    held = " under its lock" if event.lock_id else ""
    version = f" {event.version}" if event.version else ""
    return INFO, (f"run {event.execution_id[:8]} of workflow '{event.workflow}'{version} started"
                  f"{held} ({plural(len(event.tasks), 'task')})")


@summarize.register
def _(event: Stack.ExecutionRenewed) -> tuple[str, str]:
    return INFO, (f"run {event.execution_id[:8]} still alive, until "
                  f"{to_text(event.alive_until)[:19]}Z")


def _tasks(event: Stack.ExecutionCompleted | Stack.ExecutionFailed) -> str:
    if event.original_time is not None:
        # An imported run: its tool counted tasks without naming them.
        return f"imported: {shortened(event.message, 80)}" if event.message else "imported"
    return plural(len(event.tasks), "task")


@summarize.register
def _(event: Stack.ExecutionCompleted) -> tuple[str, str]:
    return INFO, f"run {event.execution_id[:8]} completed in {_ms(event.duration_ms)} ({_tasks(event)})"


@summarize.register
def _(event: Stack.ExecutionFailed) -> tuple[str, str]:
    failed = [t.name for t in event.tasks if t.status in ("failed", "timed_out")]
    which = f": {listed(failed)}" if failed else ""
    back = f"; restored to v{event.rolled_back_to}" if event.rolled_back_to else ""
    imported = f" ({_tasks(event)})" if event.original_time is not None else ""
    return ERROR, (f"run {event.execution_id[:8]} failed ({event.reason}) after "
                   f"{_ms(event.duration_ms)}{which}{back}{imported}")


@summarize.register
def _(event: Stack.ExecutionSkipped) -> tuple[str, str]:
    return WARNING, f"run of workflow '{event.workflow}' not started ({event.reason})"


@summarize.register
def _(event: Stack.Imported) -> tuple[str, str]:
    tool = TOOLS.get(event.tool, event.tool)
    counts = [plural(count, noun) for count, noun in (
        (event.versions, "version"), (event.runs, "run"), (event.outputs, "output"),
        (event.resources, "resource")) if count]
    if event.history:
        counts.insert(2, entries(event.history))
    if event.locked:
        counts.append("a held lock")
    if event.secrets:
        counts.append(f"secrets kept as markers ({listed(event.secrets)})")
    what = f": {', '.join(counts)}" if counts else ""
    return INFO, f"imported from {tool} ({shortened(event.file, 60)}){what}"


@summarize.register
def _(event: Stack.HistoryImported) -> tuple[str, str]:
    said = f": {shortened(event.message, 120)}" if event.message else ""
    severity = event.severity if event.severity in (INFO, WARNING, ERROR) else INFO
    return severity, f"imported {event.kind}{said}"


TOOLS = {"go": "the Go sloth-runner", "pulumi": "Pulumi"}


@summarize.register
def _(event: Stack.TerraformStatePushed) -> tuple[str, str]:
    version = f" by Terraform {event.terraform_version}" if event.terraform_version else ""
    return INFO, (f"Terraform state serial {event.serial} pushed{version} ({_bytes(event.size)},"
                  f" {plural(len(event.outputs), 'output')}, lineage {event.lineage[:8]},"
                  f" sha256 {event.sha256[:12]})")


@summarize.register
def _(event: Stack.TerraformStateDeleted) -> tuple[str, str]:
    return WARNING, (f"Terraform state deleted (it was serial {event.serial}, lineage "
                     f"{event.lineage[:8]})")


@summarize.register
def _(event: ApiToken.Created) -> tuple[str, str]:
    scope = f"stacks {listed(event.stacks)}" if event.stacks else "every stack"
    access = "read-only" if event.read_only else "read-write"
    return INFO, f"API token '{event.name}' created ({access}, {scope})"


@summarize.register
def _(event: ApiToken.Revoked) -> tuple[str, str]:
    return WARNING, f"API token '{event.name}' revoked"


def _bytes(size: int) -> str:
    return f"{size} bytes" if size < 1024 else (
        f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB")


@summarize.register
def _(event: Hook.Added) -> tuple[str, str]:
    spec = event.spec
    stacks = f" on stacks {listed(spec.stacks)}" if spec.stacks else ""
    replay = ", replaying the whole log" if event.from_start else ""
    return INFO, (f"hook '{event.name}' added: {spec.action.kind.value} "
                  f"{shortened(spec.action.describe(), 60)} for {listed(spec.on)}{stacks}"
                  f"{replay}")


@summarize.register
def _(event: Hook.Removed) -> tuple[str, str]:
    return INFO, f"hook '{event.name}' removed"


@summarize.register
def _(event: Hook.Enabled) -> tuple[str, str]:
    return INFO, f"hook '{event.name}' enabled: deliveries resume where they stopped"


@summarize.register
def _(event: Hook.Disabled) -> tuple[str, str]:
    return WARNING, f"hook '{event.name}' disabled: deliveries pause"


@summarize.register
def _(event: AuditLog.Sealed) -> tuple[str, str]:
    return INFO, (f"event log sealed: {plural(event.events, 'event')} stored before the chain"
                  f" chained, up to position {event.position} (head {event.head[:12]})")


def _ms(milliseconds: int) -> str:
    return format_duration(timedelta(milliseconds=milliseconds))


_WRITE_ROW = upsert("state_events", "id, stack_id, stack_name, stack_version, event_type,"
                    " severity, message, source, actor, correlation_id, created_at, data,"
                    " original_time, original_actor", "id")


class AuditProjector(Projector):
    """Maintains `state_events`: one row per event, with a one-line summary."""

    spec = schema.AUDIT

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}  # a stack's id never changes its name (uuid5)
        self._rows: list[tuple[Any, ...]] = []

    def project(self, cursor: Cursor, event: DomainEvent, position: int) -> None:
        stack_id = str(event.originator_id)
        if isinstance(event, Stack.Created):
            name = self._names[stack_id] = event.name
        elif stack_id in self._names:
            name = self._names[stack_id]
        else:
            # The stacks projection runs first on every event and owns the name.
            row = cursor.execute("SELECT name FROM stacks WHERE id = ?", (stack_id,)).fetchone()
            name = self._names[stack_id] = row[0] if row else ""
        severity, message = summarize(event)
        original_time = original_actor = None
        if isinstance(event, Stack.HistoryImported):
            original_actor = event.original_actor
            original_time = to_text(event.original_time) if event.original_time else None
        # Rows are kept for one statement per batch (`flush`): nothing reads them before.
        self._rows.append(
            (position, stack_id, name, event.originator_version, type(event).TOPIC, severity,
             message, event.source.value, event.actor, event.correlation_id,
             to_text(event.timestamp), dump(event.payload()), original_time, original_actor))

    def flush(self, cursor: Cursor) -> None:
        rows, self._rows = self._rows, []
        cursor.executemany(_WRITE_ROW, rows)

    def discard(self) -> None:
        self._rows = []
