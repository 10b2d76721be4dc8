"""Planning an import from the original Go sloth-runner's database.

The Go tool's rows arrive as plain dictionaries (`infrastructure.go_database` reads them);
here they become what each stack imports (`domain.imports.ImportedStack`): its versions
with their own numbers and states, its runs, its last state, its history and its lock, and
notes on what had to be adjusted or left out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid5

from domain.errors import InvalidInput, StackNotFound
from domain.imports import (
    GO_TOOL,
    IMPORTED_FROM,
    IMPORTED_TYPE,
    HistoryEntry,
    ImportedLock,
    ImportedRun,
    ImportedStack,
    ImportedVersion,
)
from domain.names import stack_id, validate_key, validate_stack_name
from domain.resources import Resource, validate_declarations
from domain.values import check_json_value
from domain.versions import StackState

if TYPE_CHECKING:
    from commands.drift import ResourceProviders

Row = Mapping[str, Any]

UNKNOWN_ACTOR = "unknown"
"""The actor of a line of history the Go tool recorded without one."""
MAX_DESCRIPTION = 4096
MAX_TEXT = 1024

VALUE_FIELDS = ("version", "workflow_file", "task_results", "configuration", "metadata",
                "last_error")
"""Fields of a Go stack with no counterpart here: they become state values of the same name."""
STATUSES = ("created", "completed", "failed")
SUCCEEDED = ("completed", "success", "succeeded")
UNFINISHED = ("running", "pending", "started", "")
SEVERITIES = {"info": "info", "warning": "warning", "warn": "warning", "error": "error",
              "critical": "error", "fatal": "error"}

_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_.\-/]")


# ---- what an import did ---------------------------------------------------------------------

IMPORTED = "imported"
WOULD_IMPORT = "would import"
ALREADY_IMPORTED = "imported already"
SKIPPED = "skipped"


@dataclass(frozen=True)
class StackImport:
    """What importing one stack of the Go tool's database did (or, dry, would do)."""

    name: str
    result: str
    reason: str = ""
    versions: int = 0
    runs: int = 0
    history: int = 0
    resources: int = 0
    outputs: int = 0
    values: int = 0
    lock: ImportedLock | None = None
    events: int = 0
    notes: tuple[str, ...] = ()

    @property
    def counted(self) -> bool:
        """Whether its numbers are part of what the import brings (or would bring)."""
        return self.result in (IMPORTED, WOULD_IMPORT)

    def to_json(self) -> dict[str, Any]:
        lock = None if self.lock is None else self.lock.model_dump(mode="json")
        return {"name": self.name, "result": self.result, "reason": self.reason,
                "versions": self.versions, "executions": self.runs, "history": self.history,
                "resources": self.resources, "outputs": self.outputs, "values": self.values,
                "lock": lock, "events": self.events, "notes": list(self.notes)}


@dataclass(frozen=True)
class GoImportPlan:
    """The stacks a Go tool's database holds, as they would be imported, and what not."""

    file: str
    stacks: list[ImportedStack]
    skipped: list[StackImport]
    notes: list[str]


@dataclass(frozen=True)
class GoImportReport:
    file: str
    dry_run: bool
    stacks: list[StackImport]
    notes: list[str]

    def total(self, what: str) -> int:
        return sum(getattr(s, what) for s in self.stacks if s.counted)

    @property
    def imported(self) -> list[StackImport]:
        return [s for s in self.stacks if s.counted]

    @property
    def skipped(self) -> list[StackImport]:
        return [s for s in self.stacks if s.result == SKIPPED]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.file, "dry_run": self.dry_run,
                "stacks": [s.to_json() for s in self.stacks],
                "totals": {"stacks": len(self.imported), "versions": self.total("versions"),
                           "executions": self.total("runs"), "history": self.total("history"),
                           "locks": sum(1 for s in self.imported if s.lock is not None),
                           "imported_already": sum(1 for s in self.stacks
                                                   if s.result == ALREADY_IMPORTED),
                           "skipped": len(self.skipped)},
                "notes": self.notes}


# ---- the Go tool's rows, read -----------------------------------------------------------------

def go_time(value: Any) -> datetime | None:
    """A time as the Go tool stored it (SQLite's CURRENT_TIMESTAMP, go-sqlite3's
    `2006-01-02 15:04:05.999999999-07:00`, RFC 3339, Unix seconds), in UTC."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        text = str(value).strip().split(" m=")[0]  # a monotonic clock reading, if printed
        go_string = re.fullmatch(r"(\S+ \S+) ([+-]\d{2})(\d{2})(?: \w+)?", text)
        if go_string:  # time.Time.String(): 2024-03-14 17:30:12.5 +0000 UTC
            text = f"{go_string[1]}{go_string[2]}:{go_string[3]}"
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def go_duration_ms(value: Any) -> int | None:
    """A Go `time.Duration` (nanoseconds, as the Go tool stores it) in milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        value = int(value)
    if isinstance(value, int | float) and value >= 0:
        return int(value // 1_000_000)
    return None


def parse_json(value: Any) -> Any:
    """A column that holds JSON, decoded; text that is not JSON stays text; empty is None."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def clean_text(value: Any, limit: int = MAX_TEXT, *, lines: bool = False) -> str:
    """Text as this program records it: no control characters (tabs and newlines kept where
    `lines`), at most `limit` characters."""
    text = "" if value is None else str(value)
    text = "".join(c if ord(c) >= 32 or (lines and c in "\t\n") else " " for c in text)
    return text[:limit]


def _digest(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# ---- the Go tool's database, planned ------------------------------------------------------------

def plan_go_import(tables: Mapping[str, Sequence[Row]], *, file: str, only: Sequence[str] = (),
                   providers: ResourceProviders | None, lock_ttl: timedelta,
                   at: datetime) -> GoImportPlan:
    """What importing these rows of a Go tool's database brings, stack by stack."""
    rows = list(tables.get("stacks", ()))
    names = {_text(row.get("name")) for row in rows}
    missing = [name for name in only if name not in names]
    if missing:
        raise StackNotFound(missing[0]) from None
    skipped: list[StackImport] = []
    chosen: dict[str, Row] = {}
    for row in sorted(rows, key=lambda r: (_text(r.get("name")), _sort_time(r.get("updated_at")),
                                           _text(r.get("id")))):
        name = _text(row.get("name"))
        if only and name not in only:
            continue
        try:
            validate_stack_name(name)
        except InvalidInput as exc:
            skipped.append(StackImport(name, SKIPPED, str(exc)))
            continue
        earlier = chosen.get(name)
        if earlier is not None:  # names are not unique in every release of the Go tool
            skipped.append(StackImport(
                name, SKIPPED, f"the Go tool holds another stack of this name (id "
                f"{_text(row.get('id'))}) updated later; that one is imported (id "
                f"{_text(earlier.get('id'))} is not)"))
        chosen[name] = row
    by_stack = _rows_by_stack(tables, rows)
    stacks = [_go_stack(row, by_stack.get(_text(row.get("id")), {}), file=file,
                        providers=providers, lock_ttl=lock_ttl, at=at)
              for _, row in sorted(chosen.items())]
    return GoImportPlan(file=file, stacks=stacks, skipped=skipped,
                        notes=_orphans(tables, rows))


def _sort_time(value: Any) -> str:
    moment = go_time(value)
    return moment.isoformat() if moment else ""


def _rows_by_stack(tables: Mapping[str, Sequence[Row]],
                   stacks: Sequence[Row]) -> dict[str, dict[str, list[Row]]]:
    ids = {_text(row.get("id")) for row in stacks}
    by_name = {_text(row.get("name")): _text(row.get("id")) for row in stacks}
    found: dict[str, dict[str, list[Row]]] = {}
    for table, rows in tables.items():
        if table == "stacks":
            continue
        for row in rows:
            owner = _text(row.get("stack_id"))
            if owner not in ids:
                owner = by_name.get(_text(row.get("stack_name")), owner)
            found.setdefault(owner, {}).setdefault(table, []).append(row)
    return found


def _orphans(tables: Mapping[str, Sequence[Row]], stacks: Sequence[Row]) -> list[str]:
    ids = {_text(row.get("id")) for row in stacks}
    names = {_text(row.get("name")) for row in stacks}
    notes = []
    for table, rows in tables.items():
        if table == "stacks":
            continue
        lost = [row for row in rows if _text(row.get("stack_id")) not in ids
                and _text(row.get("stack_name")) not in names]
        if lost:
            notes.append(f"{table}: {len(lost)} row{'s' if len(lost) != 1 else ''} of stacks "
                         "the stacks table does not hold, not imported")
    return notes


def _go_stack(row: Row, related: Mapping[str, list[Row]], *, file: str,
              providers: ResourceProviders | None, lock_ttl: timedelta,
              at: datetime) -> ImportedStack:
    name = _text(row.get("name"))
    notes: list[str] = []
    resources = _GoResources(name, providers, notes)
    description = _description(row.get("description"), notes, "the description")
    runs = _runs(name, row, related.get("stack_executions", []))
    last_outcome = ("completed" if runs[-1].succeeded else "failed") if runs else "created"
    status = _status(row.get("status"), last_outcome, notes)
    current = StackState(description=description, status=status,
                         values=_keyed(_stack_values(row), "state key", notes),
                         outputs=_outputs(row.get("outputs"), notes),
                         resources=resources.declare(related.get("resources", [])))
    versions = _versions(related.get("state_versions", []), current, resources, notes)
    lock = _lock(name, related.get("state_locks", []), lock_ttl, at, notes)
    executions = row.get("execution_count")
    return ImportedStack(
        name=name, description=description, created_at=go_time(row.get("created_at")),
        tool=GO_TOOL, file=file, source_id=_text(row.get("id")),
        import_id=_digest({"stack": dict(row), **{table: sorted(
            (dict(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True, default=str))
            for table, rows in sorted(related.items())}}),
        versions=versions, runs=runs, state=current,
        executions=executions if isinstance(executions, int) and executions >= 0 else len(runs),
        last_run=go_time(row.get("completed_at")) or go_time(row.get("updated_at")),
        last_duration_ms=go_duration_ms(row.get("last_duration")),
        history=_history(related, resources), lock=lock, notes=notes)


def _description(value: Any, notes: list[str], what: str) -> str:
    text = clean_text(value, MAX_DESCRIPTION, lines=True)
    if text != _text(value):
        notes.append(f"{what} was shortened or had control characters replaced")
    return text


def _status(value: Any, fallback: str, notes: list[str]) -> str:
    status = _text(value).strip().lower()
    if status in STATUSES:
        return status
    if status:
        notes.append(f"status '{clean_text(value)}' has no counterpart here: shown as "
                     f"'{fallback}' (the outcome of its last run)")
    return fallback


def _stack_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = {}
    for key in VALUE_FIELDS:
        value = fields.get(key)
        if key in ("task_results", "configuration", "metadata"):
            value = parse_json(value)
        if value in (None, "", {}, []):
            continue
        values[key] = value
    return values


def _keyed(values: Mapping[str, Any], kind: str, notes: list[str]) -> dict[str, Any]:
    """The entries whose key and value this program can store; the others noted."""
    kept = {}
    for key, value in values.items():
        try:
            validate_key(key, kind)
            check_json_value(key, value)
        except InvalidInput as exc:
            notes.append(f"{kind.split(maxsplit=1)[0]} '{clean_text(key, 60)}' not imported: {exc}")
            continue
        kept[key] = value
    return kept


def _outputs(value: Any, notes: list[str]) -> dict[str, Any]:
    outputs = parse_json(value)
    if outputs in (None, {}):
        return {}
    if not isinstance(outputs, dict):
        notes.append("outputs are not a JSON object: not imported")
        return {}
    return _keyed(outputs, "output key", notes)


def _versions(rows: Sequence[Row], current: StackState, resources: _GoResources,
              notes: list[str]) -> list[ImportedVersion]:
    versions = []
    state = StackState(description=current.description)
    for row in sorted(rows, key=lambda r: _version_number(r.get("version")) or 0):
        number = _version_number(row.get("version"))
        if number is None:
            notes.append(f"a version numbered '{clean_text(row.get('version'), 40)}' not "
                         "imported: a version is a whole number from 1 up")
            continue
        content = row.get("state_snapshot", row.get("state_data"))
        state = _version_state(parse_json(content), state, resources, notes, number)
        versions.append(ImportedVersion(
            version=number, state=state,
            creator=clean_text(row.get("created_by") or row.get("creator")) or UNKNOWN_ACTOR,
            description=_description(row.get("description"), notes,
                                     f"the description of v{number}"),
            created_at=go_time(row.get("created_at"))))
    return versions


def _version_number(value: Any) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"[vV]?\d{1,18}", value.strip()):
        value = int(value.strip().lstrip("vV"))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def _version_state(content: Any, before: StackState, resources: _GoResources,
                   notes: list[str], number: int) -> StackState:
    """A version's state from what the Go tool stored: its whole snapshot of the stack (the
    stack's fields and its resources), or, in its simpler form, the state data alone."""
    if isinstance(content, dict) and isinstance(content.get("stack_state"), dict):
        fields = content["stack_state"]
        found = content.get("resources")
        return StackState(
            description=clean_text(fields.get("description"), MAX_DESCRIPTION, lines=True),
            status=_status(fields.get("status"), before.status, []),
            values=_keyed(_stack_values(fields), "state key", notes),
            outputs=_outputs(fields.get("outputs"), notes),
            resources=resources.declare(found if isinstance(found, list) else [],
                                        quiet=True))
    if content is None:
        values: dict[str, Any] = {}
    elif isinstance(content, dict):
        values = _keyed(content, "state key", notes)
    else:
        values = {"state_data": content}
    return before.model_copy(update={"values": values})


def _runs(stack: str, row: Row, rows: Sequence[Row]) -> list[ImportedRun]:
    workflow = clean_text(row.get("workflow_file")) or "imported"
    runs = []
    ordered = sorted(rows, key=lambda r: (_sort_time(r.get("started_at")), _text(r.get("id"))))
    for run in ordered:
        started, finished = go_time(run.get("started_at")), go_time(run.get("completed_at"))
        duration = go_duration_ms(run.get("duration"))
        if duration is None:
            duration = (max(int((finished - started).total_seconds() * 1000), 0)
                        if started and finished else 0)
        if finished is None and started is not None:
            finished = started + timedelta(milliseconds=duration)
        status = _text(run.get("status")).strip().lower()
        succeeded = status in SUCCEEDED
        counts = [f"{run.get(key)} {label}" for key, label in (
            ("task_count", "tasks"), ("success_count", "succeeded"),
            ("failure_count", "failed")) if isinstance(run.get(key), int)]
        message = ", ".join(counts)
        if run.get("error_message"):
            message += ("; " if message else "") + clean_text(run.get("error_message"), 4096)
        runs.append(ImportedRun(
            execution_id=str(uuid5(stack_id(stack), f"go-execution:{_text(run.get('id'))}")),
            workflow=workflow, file=clean_text(row.get("workflow_file")), started_at=started,
            finished_at=finished, duration_ms=duration, succeeded=succeeded,
            reason=("failed" if status in ("failed", "error") else
                    "never finished" if status in UNFINISHED else clean_text(status, 80)),
            message=message))
    return runs


def _history(related: Mapping[str, list[Row]], resources: _GoResources) -> list[HistoryEntry]:
    entries: list[tuple[tuple[Any, ...], HistoryEntry]] = []
    for row in related.get("state_events", []):
        data = _object(row.get("data"))
        actor = next((data[key] for key in ("user", "actor", "who")
                      if isinstance(data.get(key), str) and data[key]), None)
        entries.append(_entry(row, HistoryEntry(
            origin="state_events", kind=clean_text(row.get("event_type"), 200),
            message=clean_text(row.get("message") or data.get("message"), 4096),
            severity=SEVERITIES.get(_text(row.get("severity")).lower(), "info"),
            time=go_time(row.get("created_at") or row.get("timestamp")),
            actor=clean_text(actor or row.get("source")) or UNKNOWN_ACTOR,
            source=clean_text(row.get("source")), data=data)))
    for row in related.get("state_activity", []):
        details = parse_json(row.get("details"))
        message = row.get("description") or (
            details.get("message") if isinstance(details, dict) else details)
        entries.append(_entry(row, HistoryEntry(
            origin="state_activity", kind=clean_text(row.get("activity_type"), 200),
            message=clean_text(message, 4096), time=go_time(row.get("created_at")),
            actor=clean_text(row.get("user")) or UNKNOWN_ACTOR,
            data={key: value for key, value in (("resource", resources.named(
                row.get("resource_id"))), ("details", details)) if value not in (None, "")})))
    for row in related.get("drift_detections", []):
        fields = parse_json(row.get("drift_fields"))
        resolved = go_time(row.get("resolved_at"))
        resource = resources.named(row.get("resource_id")) or "the stack"
        differ = (f"{', '.join(map(str, fields))} differ" if isinstance(fields, list) and fields
                  else "drift detected")
        status = _text(row.get("resolution_status"))
        outcome = (f"; resolved at {resolved:%Y-%m-%d %H:%M:%S}" if resolved
                   else f"; {status}" if status and status != "pending" else "")
        entries.append(_entry(row, HistoryEntry(
            origin="drift_detections", kind="drift_detected",
            message=clean_text(f"{resource}: {differ}{outcome}", 4096),
            severity="warning", time=go_time(row.get("detected_at")), actor=UNKNOWN_ACTOR,
            data={key: value for key, value in (
                ("resource", resources.named(row.get("resource_id"))),
                ("expected", parse_json(row.get("expected_state"))),
                ("actual", parse_json(row.get("actual_state"))), ("fields", fields),
                ("resolved_at", row.get("resolved_at")), ("resolution_status", status or None))
                if value not in (None, "")})))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


def _entry(row: Row, entry: HistoryEntry) -> tuple[tuple[Any, ...], HistoryEntry]:
    when = entry.time.isoformat() if entry.time else "~"  # undated last
    return (when, entry.origin, _text(row.get("id"))), entry


def _object(value: Any) -> dict[str, Any]:
    decoded = parse_json(value)
    if isinstance(decoded, dict):
        return decoded
    return {} if decoded in (None, "") else {"value": decoded}


def _lock(stack: str, rows: Sequence[Row], ttl: timedelta, at: datetime,
          notes: list[str]) -> ImportedLock | None:
    if not rows:
        return None
    row = rows[0]
    holder = clean_text(row.get("locked_by") or row.get("who")) or UNKNOWN_ACTOR
    locked_at = go_time(row.get("locked_at") or row.get("created_at"))
    expires_at = go_time(row.get("expires_at")) or (locked_at or at) + ttl
    if expires_at <= at:
        notes.append(f"the lock held by {holder} expired at {expires_at:%Y-%m-%d %H:%M:%S} UTC:"
                     " not imported")
    metadata = _object(row.get("metadata"))
    return ImportedLock(
        lock_id=clean_text(row.get("lock_id")) or str(uuid5(stack_id(stack), "go-lock")),
        locked_by=holder, locked_at=locked_at, expires_at=expires_at,
        operation=clean_text(row.get("operation")),
        reason=clean_text(row.get("info") or row.get("reason")),
        metadata={clean_text(key, 200): clean_text(value if isinstance(value, str)
                                                   else json.dumps(value))
                  for key, value in list(metadata.items())[:64]})


class _GoResources:
    """The Go tool's resources of one stack as declarations: of their own type where a
    provider here takes their properties, otherwise as records (type `imported`)."""

    def __init__(self, stack: str, providers: ResourceProviders | None,
                 notes: list[str]) -> None:
        self.stack = stack
        self.providers = providers
        self.notes = notes
        self.names: dict[str, str] = {}
        """Our name of each Go resource, by its Go id."""

    def named(self, go_id: Any) -> str | None:
        return self.names.get(_text(go_id)) if go_id not in (None, "") else None

    def declare(self, rows: Sequence[Any], *, quiet: bool = False) -> dict[str, Resource]:
        notes = [] if quiet else self.notes
        rows = [row for row in rows if isinstance(row, Mapping)]
        taken: dict[str, Row] = {}
        ids: dict[str, str] = {}
        by_go_name: dict[str, list[str]] = {}
        ordered = sorted(rows, key=lambda r: (_text(r.get("type")), _text(r.get("name")),
                                              _text(r.get("id"))))
        for row in ordered:
            name = self._name(row, taken, notes)
            taken[name] = row
            ids[_text(row.get("id"))] = name
            by_go_name.setdefault(_text(row.get("name")), []).append(name)
        self.names.update(ids)
        declared: dict[str, Resource] = {}
        for name, row in taken.items():
            needs = []
            wanted = parse_json(row.get("dependencies"))
            for other in wanted if isinstance(wanted, list) else []:
                target = ids.get(_text(other)) or next(iter(by_go_name.get(_text(other), [])[
                    :1]), None)
                if target is None or target == name:
                    notes.append(f"resource '{name}': dependency '{clean_text(other, 60)}' is "
                                 "not another resource of the stack: left out")
                    continue
                needs.append(target)
            declared[name] = self._declaration(name, row, tuple(needs), notes)
        try:
            validate_declarations(list(declared.values()))
        except InvalidInput as exc:
            notes.append(f"dependencies between resources left out: {exc}")
            declared = {name: resource.model_copy(update={"depends_on": ()})
                        for name, resource in declared.items()}
        return declared

    def _name(self, row: Row, taken: Mapping[str, Row], notes: list[str]) -> str:
        go_type, go_name = _text(row.get("type")), _text(row.get("name"))
        for candidate in (go_name, _NAME_CHARACTER.sub("", f"{go_type}.{go_name}")):
            try:
                validate_key(candidate, "resource name")
            except InvalidInput:
                continue
            if candidate not in taken:
                if candidate != go_name:
                    notes.append(f"resource '{clean_text(go_name, 60)}' ({clean_text(go_type, 40)}"
                                 f") is named '{candidate}' here")
                return candidate
        name = "go-" + hashlib.sha256(f"{go_type}/{go_name}/{_text(row.get('id'))}"
                                      .encode()).hexdigest()[:16]
        notes.append(f"resource '{clean_text(go_name, 60)}' ({clean_text(go_type, 40)}) is "
                     f"named '{name}' here")
        return name

    def _declaration(self, name: str, row: Row, needs: tuple[str, ...],
                     notes: list[str]) -> Resource:
        go_type = _text(row.get("type"))
        properties = parse_json(row.get("properties"))
        if self.providers is not None and isinstance(properties, dict):
            try:
                declared = self.providers.normalize(Resource(
                    name=name, type=go_type, attributes=properties, depends_on=needs))
            except InvalidInput as exc:
                reason = str(exc).removeprefix(f"resource '{name}': ").split(" (known: ")[0]
            else:
                if not declared.record_only:
                    return declared
                reason = f"type '{go_type}' is a record of another tool"
            notes.append(f"resource '{name}' kept as a record (type {IMPORTED_TYPE}): "
                         f"{clean_text(reason, 200)}")
        details = {key: parse_json(row.get(key)) for key in (
            "module", "properties", "state", "checksum", "error_message", "metadata",
            "last_applied") if row.get(key) not in (None, "")}
        return Resource(name=name, type=IMPORTED_TYPE, record_only=True, depends_on=needs,
                        attributes={IMPORTED_FROM: GO_TOOL, "type": go_type or "unknown",
                                    "source_id": _text(row.get("id")), "details": details})


