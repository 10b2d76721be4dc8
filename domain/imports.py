"""What an import brings in from another tool, as the stack records it.

An import reads what another tool kept (the original Go sloth-runner's database, a Pulumi
export) and turns it into ordinary events of the stack: its creation, its versions with
their original numbers, its runs, its lock and its history. Whatever the stack records keeps
the importer as its actor and the import's time as its timestamp; the original time and
actor, where the source had them, travel in the events (`original_time`, `original_actor`)
for the read models to show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import InvalidInput
from domain.versions import StackState

IMPORTED_TYPE = "imported"
"""The resource type of what an import found but no provider here can observe: a record."""

IMPORTED_FROM = "imported_from"
"""The attribute of an `imported` resource that names the tool it came from."""

SECRET = "<secret>"
"""What a secret's value reads as after an import: the value itself is never kept."""

GO_TOOL = "go"
PULUMI = "pulumi"


class ImportedVersion(BaseModel):
    """A numbered version of the stack's state, as the other tool recorded it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    creator: str
    description: str = ""
    created_at: datetime | None = None
    state: StackState


class ImportedRun(BaseModel):
    """A run the other tool recorded: when, how long, and how it ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_id: str
    workflow: str
    file: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int = Field(default=0, ge=0)
    succeeded: bool
    reason: str = "failed"
    message: str = ""


class HistoryEntry(BaseModel):
    """A line of the other tool's own history of the stack (an event, an activity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: str
    """Where the other tool kept it (the Go tool: `state_events` or `state_activity`)."""
    kind: str
    message: str = ""
    severity: str = "info"
    time: datetime | None = None
    actor: str
    source: str = ""
    data: dict[str, Any] = {}


class ImportedLock(BaseModel):
    """A lock the other tool held on the stack when it was read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lock_id: str
    locked_by: str
    locked_at: datetime | None = None
    expires_at: datetime
    operation: str = ""
    reason: str = ""
    metadata: dict[str, str] = {}


class ImportedStack(BaseModel):
    """Everything one import brings in about one stack, in the order it is recorded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    created_at: datetime | None = None
    tool: str
    file: str
    """The file it was read from."""
    source_id: str = ""
    """The stack's id in the other tool."""
    import_id: str
    """A digest of everything read about the stack: the same source imports once."""
    versions: list[ImportedVersion] = []
    runs: list[ImportedRun] = []
    state: StackState
    """The stack's state as the other tool last had it."""
    executions: int | None = None
    """How many runs the other tool counted (it may have kept fewer of them)."""
    last_run: datetime | None = None
    last_duration_ms: int | None = None
    history: list[HistoryEntry] = []
    lock: ImportedLock | None = None
    notes: list[str] = []
    """What was adjusted or left out, and why."""


class ImportRecord(BaseModel):
    """Where an import into an existing stack came from (a Pulumi export, say)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    file: str
    source_id: str = ""
    import_id: str
    secrets: list[str] = []
    notes: list[str] = []


class ImportedVersionOutOfOrder(InvalidInput):
    def __init__(self, stack: str, version: int, last: int) -> None:
        super().__init__(f"stack '{stack}': imported snapshot v{version} is not above v{last}, "
                         "the last version it has", stack=stack, version=version)


def is_imported_from(attributes: dict[str, Any], tool: str) -> bool:
    """Whether an `imported` resource's attributes say it came from this tool."""
    return attributes.get(IMPORTED_FROM) == tool
