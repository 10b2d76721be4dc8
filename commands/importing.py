"""Moving in: stacks from the original Go sloth-runner, Terraform state files, Pulumi exports.

Every import turns what it reads into ordinary events of the stacks it brings in, so their
history, versions, locks and audit log work from the first minute:

- `import go`: each stack of the Go tool's database is recorded in one write
  (`Stack.import_stack`, planned by `commands.go_import`): created, its versions under their
  own numbers, its runs, its last state, its history and a lock it still holds, then
  `stack.imported`. The write carries a digest of everything read about the stack, so
  importing the same database again finds it there and records nothing.
- `import tfstate`: a push to the Terraform backend (`commands.terraform`), as `serve` does.
- `import pulumi`: the stack resource's outputs (secrets as `<secret>`) and every resource as
  a record (`Stack.follow_import`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from commands.go_import import (
    ALREADY_IMPORTED,
    IMPORTED,
    SKIPPED,
    WOULD_IMPORT,
    GoImportPlan,
    GoImportReport,
    StackImport,
)
from domain.errors import ConcurrentModification, InvalidInput, StackNotFound
from domain.imports import PULUMI, ImportedStack, ImportRecord
from domain.invocation import Invocation
from domain.names import validate_stack_name

if TYPE_CHECKING:
    from commands.drift import ResourceProviders
    from commands.outcome import Outcome
    from commands.service import StackService
    from commands.terraform import StateDocuments
    from domain.pulumi import PulumiDeployment
    from domain.stack import Stack
    from domain.terraform import StateDocument

TERRAFORM_FORMAT = 4
SQLITE_HEADER = b"SQLite format 3\x00"


# ---- the use cases ---------------------------------------------------------------------------

class Importer:
    """Records what imports read, through the write-side service."""

    def __init__(self, service: StackService, documents: StateDocuments | None = None) -> None:
        self.service = service
        self.documents = documents

    def import_go(self, plan: GoImportPlan, invocation: Invocation, *,
                  dry_run: bool = False) -> GoImportReport:
        """Each stack in its own write; a stack imported already, or one of the same name
        that this database holds already, is left as it is."""
        results = [self._import_stack(imported, invocation, dry_run) for imported in plan.stacks]
        results += plan.skipped
        results.sort(key=lambda result: result.name)
        return GoImportReport(file=plan.file, dry_run=dry_run, stacks=results, notes=plan.notes)

    def _import_stack(self, imported: ImportedStack, invocation: Invocation,
                      dry_run: bool) -> StackImport:
        from eventsourcing.persistence import RecordConflictError

        from commands.service import MAX_ATTEMPTS
        from domain.stack import Stack

        counted = StackImport(imported.name, WOULD_IMPORT, versions=len(imported.versions),
                              runs=len(imported.runs), history=len(imported.history),
                              resources=len(imported.state.resources),
                              outputs=len(imported.state.outputs),
                              values=len(imported.state.values), notes=tuple(imported.notes))
        for _ in range(MAX_ATTEMPTS):
            inv = invocation.model_copy(update={"at": self.service.clock()})
            try:
                existing: Stack | None = self.service.load(imported.name)
            except StackNotFound:
                existing = None
            if existing is not None:
                if imported.import_id in existing.imports:
                    return StackImport(imported.name, ALREADY_IMPORTED,
                                       f"this database recorded it (import "
                                       f"{imported.import_id[:12]})")
                return StackImport(imported.name, SKIPPED,
                                   "this database has a stack of that name already (not from "
                                   "this import); it was left as it is")
            try:
                stack = Stack.import_stack(imported, inv)
            except InvalidInput as exc:
                return StackImport(imported.name, SKIPPED, str(exc), notes=tuple(imported.notes))
            lock = stack.held_lock(inv.at)
            held = imported.lock if lock is not None else None
            events = len(stack.pending_events)
            if dry_run:
                return replace(counted, lock=held, events=events)
            try:
                self.service.store.save(stack)
            except RecordConflictError:
                continue
            return replace(counted, result=IMPORTED, lock=held, events=events)
        raise ConcurrentModification(imported.name, MAX_ATTEMPTS)

    def import_tfstate(self, name: str, source: TerraformFile, invocation: Invocation, *,
                       dry_run: bool = False) -> Outcome:
        """A Terraform state file pushed to the stack as `serve`'s backend takes a push."""
        from commands.terraform import TerraformBackend

        validate_stack_name(name)
        if self.documents is None:
            raise InvalidInput("Terraform state cannot be imported: no document store")
        try:
            last_version = self.service.load(name).last_version
        except StackNotFound:
            last_version = 0
        backend = TerraformBackend(self.service, self.documents)
        outcome = backend.push(name, source.data, source.document, invocation, dry_run=dry_run)
        outcome.detail.update({"resources": len(source.parsed.resources), "file": source.file,
                               "dry_run": dry_run, "snapshot_version": last_version + 1})
        return outcome

    def import_pulumi(self, name: str, source: PulumiFile, invocation: Invocation, *,
                      providers: ResourceProviders | None = None,
                      dry_run: bool = False) -> Outcome:
        """The outputs (secrets as `<secret>`) and resources of a `pulumi stack export`."""
        validate_stack_name(name)
        deployment = source.deployment
        resources = [providers.normalize(r) if providers is not None else r
                     for r in deployment.resources]
        record = ImportRecord(
            tool=PULUMI, file=source.file, import_id=hashlib.sha256(source.data).hexdigest(),
            source_id="/".join(part for part in (deployment.project, deployment.stack) if part),
            secrets=list(deployment.secrets), notes=list(deployment.notes))

        def follow(stack: Stack, inv: Invocation) -> dict[str, Any]:
            recorded = stack.follow_import(inv, record, outputs=deployment.outputs,
                                           resources=resources)
            return {"recorded": recorded, "pulumi_stack": deployment.stack,
                    "project": deployment.project, "outputs": sorted(deployment.outputs),
                    "secrets": list(deployment.secrets), "resources": len(resources),
                    "notes": list(deployment.notes), "file": source.file, "dry_run": dry_run}

        if dry_run:
            return self.service.preview(name, invocation, follow, create_missing=True)
        return self.service.change(name, invocation, follow, create_missing=True)


@dataclass(frozen=True)
class TerraformFile:
    """A Terraform state file read and checked: the document as it is, and what it says."""

    file: str
    data: bytes
    document: dict[str, Any]
    parsed: StateDocument


def read_tfstate(data: bytes, file: str) -> TerraformFile:
    """Check a Terraform state file (format 4) before anything is opened for writing."""
    from domain.terraform import read_document

    document = _json_document(data, file, "a Terraform state file")
    if not isinstance(document, dict) or "version" not in document:
        raise InvalidInput(f"{file} is not a Terraform state file: it has no format 'version'")
    version = document["version"]
    if version != TERRAFORM_FORMAT or isinstance(version, bool):
        raise InvalidInput(
            f"{file} is a Terraform state of format version {json.dumps(version)}; only "
            f"version {TERRAFORM_FORMAT} (Terraform 0.12 and later, OpenTofu) is imported: "
            "upgrade the state with a newer Terraform first")
    try:
        parsed = read_document(document)
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc}") from None
    return TerraformFile(file=file, data=data, document=document, parsed=parsed)


@dataclass(frozen=True)
class PulumiFile:
    """A `pulumi stack export` read and checked (its secrets concealed)."""

    file: str
    data: bytes
    deployment: PulumiDeployment


def read_pulumi(data: bytes, file: str) -> PulumiFile:
    """Check a Pulumi stack export (deployment version 3) before anything is written."""
    from domain.pulumi import read_export

    document = _json_document(data, file, "a Pulumi stack export")
    try:
        deployment = read_export(document)
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc}") from None
    return PulumiFile(file=file, data=data, deployment=deployment)


def _json_document(data: bytes, file: str, expected: str) -> Any:
    """The file's JSON document; a SQLite file or a file that is not JSON is refused."""
    from commands.terraform import decode

    if data.startswith(SQLITE_HEADER):
        raise InvalidInput(f"{file} is a SQLite database, not {expected} (a database of the "
                           "original Go sloth-runner goes to `sloth-runner import go`)")
    if not data.strip():
        raise InvalidInput(f"{file} is empty, not {expected}")
    try:
        return decode(data)
    except ValueError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"{file} is not valid JSON ({reason}), so not {expected}") from None

