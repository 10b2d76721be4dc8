"""Terraform's http state backend as a use case: read, write, lock, unlock and delete a
stack's Terraform state.

A write appends `terraform.state.pushed` (the document itself is stored apart, by its
sha256) and makes the stack's outputs and `terraform` resources follow the document's.
Terraform's lock is the stack's lock: its ID is the lock id, its `Who` the holder.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field

from commands.models import AcquireLock, Command, ForceReleaseLock, ReleaseLock
from domain.errors import DomainError, NotFound
from domain.invocation import Invocation
from domain.locks import LockInfo, NotLocked, validate_lock_text
from domain.terraform import TerraformState, read_document
from domain.timestamps import to_text

if TYPE_CHECKING:
    from commands.outcome import Outcome
    from commands.service import StackService
    from domain.stack import Stack
    from domain.versions import StackState

FORCE_UNLOCK_REASON = "terraform force-unlock"


class StoredDocument(Protocol):
    """A stored document: its bytes, SHA-256 (hex) and MD5 (base64, as `Content-MD5`)."""

    @property
    def sha256(self) -> str: ...

    @property
    def md5(self) -> str: ...

    @property
    def data(self) -> bytes: ...


class StateDocuments(Protocol):
    """Where state documents are kept, by their sha256 (infrastructure provides it)."""

    def put(self, data: bytes, *, sha256: str | None = None) -> StoredDocument:
        """Store a document (idempotent) and return its digests (`sha256` if known)."""

    def get(self, sha256: str) -> StoredDocument | None:
        """The stored document with this digest, if any."""


class DocumentMissing(DomainError):
    """The log names a state document that is not stored (an internal error, never "empty")."""


class TerraformLock(Command):
    """Terraform's lock document, as its http backend sends it with LOCK and UNLOCK."""

    id: str = Field(alias="ID", min_length=1, max_length=1024)
    operation: str = Field(default="", alias="Operation")
    info: str = Field(default="", alias="Info")
    who: str = Field(default="", alias="Who")
    version: str = Field(default="", alias="Version")
    created: str = Field(default="", alias="Created")
    path: str = Field(default="", alias="Path")

    model_config = Command.model_config | {"extra": "ignore", "populate_by_name": True}

    @property
    def is_bare(self) -> bool:
        """Only an ID: what `terraform force-unlock ID` sends (newer releases)."""
        return not (self.operation or self.who or self.created)

    def metadata(self) -> dict[str, str]:
        return {key: value for key, value in (("terraform_version", self.version),
                                              ("created", self.created), ("path", self.path))
                if value}


def lock_document(lock: LockInfo) -> dict[str, str]:
    """A lock (whoever took it: Terraform, the CLI, the API) as Terraform reads a lock."""
    metadata = lock.metadata
    return {"ID": lock.lock_id, "Operation": lock.operation, "Info": lock.reason,
            "Who": lock.locked_by, "Version": metadata.get("terraform_version", ""),
            "Created": metadata.get("created", to_text(lock.locked_at)),
            "Path": metadata.get("path", "")}


class TerraformBackend:
    """What every request of Terraform's http backend does to a stack."""

    def __init__(self, service: StackService, documents: StateDocuments, *,
                 auto_create: bool = True, lock_ttl: timedelta | None = None) -> None:
        self.service = service
        self.documents = documents
        self.auto_create = auto_create
        self.lock_ttl = lock_ttl or service.lock_ttl

    def current(self, name: str) -> StoredDocument | None:
        """The document the stack holds, exactly as pushed; None when it holds none."""
        stack = self.service.load(name)
        if stack.is_destroyed or stack.terraform is None:
            return None
        return self._stored(stack.terraform)

    def _stored(self, state: TerraformState) -> StoredDocument:
        document = self.documents.get(state.sha256)
        if document is None:
            raise DocumentMissing(f"the Terraform state document {state.sha256} (serial "
                                  f"{state.serial}) is not stored")
        return document

    def push(self, name: str, data: bytes, document: Any, invocation: Invocation, *,
             dry_run: bool = False) -> Outcome:
        """Hold a new state document (checked against the lock and the serial it follows);
        `dry_run`: decide, and store and record nothing."""
        parsed = read_document(document)
        sha256 = hashlib.sha256(data).hexdigest()
        state = TerraformState(sha256=sha256, serial=parsed.serial, lineage=parsed.lineage,
                               terraform_version=parsed.terraform_version, size=len(data),
                               outputs=tuple(parsed.outputs), sensitive=parsed.sensitive)

        def record(stack: Stack, inv: Invocation) -> dict[str, Any]:
            recorded = stack.record_terraform_state(inv, state, parsed)
            if recorded and not dry_run:  # stored before the event that names it is saved
                self.documents.put(data, sha256=sha256)
            return {"recorded": recorded, "state": state}

        if dry_run:
            return self.service.preview(name, invocation, record, create_missing=self.auto_create)
        return self.service.change(name, invocation, record, create_missing=self.auto_create)

    def delete(self, name: str, invocation: Invocation) -> Outcome:
        """Hold no state any more (the history keeps every document)."""
        return self.service.change(name, invocation, lambda stack, inv: {
            "deleted": stack.delete_terraform_state(inv)})

    def lock(self, name: str, lock: TerraformLock, invocation: Invocation) -> Outcome:
        """Take the stack's lock under Terraform's lock id (the lease: `lock_timeout`)."""
        command = AcquireLock(stack=name, ttl=self.lock_ttl,
                              locked_by=validate_lock_text(lock.who, "Who", "lock holder") or None,
                              operation=lock.operation, reason=lock.info,
                              metadata=lock.metadata(), lock_id=lock.id)

        def acquire(stack: Stack, inv: Invocation) -> dict[str, Any]:
            held = stack.held_lock(inv.at)
            if held is not None and held.lock_id == lock.id:
                return {"lock": held, "acquired": False}
            return {"lock": stack.acquire_lock(
                inv, ttl=command.ttl, locked_by=command.locked_by, operation=command.operation,
                reason=command.reason, metadata=command.metadata, lock_id=command.lock_id),
                "acquired": True}

        return self.service.change(name, invocation, acquire, create_missing=self.auto_create)

    def unlock(self, name: str, lock: TerraformLock | None, invocation: Invocation) -> Outcome:
        """Release the lock Terraform holds; a bare ID (or none) is `force-unlock`."""
        if lock is None or lock.is_bare:
            return self.service.force_release_lock(ForceReleaseLock(
                stack=name, reason=FORCE_UNLOCK_REASON, lock_id=lock.id if lock else None),
                invocation)
        holder = invocation.model_copy(update={"lock_id": lock.id})
        try:
            return self.service.release_lock(ReleaseLock(stack=name), holder)
        except NotLocked as exc:
            if exc.lock is not None and exc.lock.lock_id == lock.id:
                # The lease ran out before Terraform finished; nothing is left to release.
                stack = self.service.load(name)
                from commands.outcome import Outcome

                return Outcome(name, str(stack.id), stack.version, [],
                               {"lock": exc.lock, "expired": True})
            raise


def decode(data: bytes) -> Any:
    """A JSON document (integers of any size kept exactly); ValueError when it is not JSON."""
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # what orjson refuses that JSON allows: integers beyond 64 bits


def restored_state(stack: Stack, target: StackState, documents: StateDocuments) -> StackState:
    """The state a restore brings back, its Terraform document numbered for Terraform to take.

    Terraform refuses nothing it reads, but the next push must follow what it read: the
    version's document is stored again with a serial above the one the stack holds now.
    """
    wanted, held = target.terraform, stack.terraform
    if wanted is None or (held is not None and held.sha256 == wanted.sha256):
        return target
    serial = max(wanted.serial, held.serial + 1 if held is not None else 0)
    if serial == wanted.serial:
        return target
    original = documents.get(wanted.sha256)
    if original is None:
        raise NotFound(f"the Terraform state document of this version ({wanted.sha256[:12]}) "
                       "is not stored; it cannot be restored")
    document = decode(original.data)
    document["serial"] = serial
    data = json.dumps(document, indent=4).encode() + b"\n"
    stored = documents.put(data)
    return target.model_copy(update={"terraform": wanted.model_copy(update={
        "sha256": stored.sha256, "serial": serial, "size": len(data)})})

