"""API tokens: who may call `sloth-runner serve`, and on which stacks.

A token is an aggregate of its own (one stream per token name). Its events record the
digest of the secret, never the secret: the secret is shown once, when the token is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from uuid import UUID, uuid5

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate

from domain.errors import Conflict, InvalidInput, NotFound
from domain.events import DomainEvent, stamp
from domain.invocation import Invocation
from domain.names import MAX_NAME_LENGTH, validate_stack_name

TOKEN_NAMESPACE = UUID("0b8f7a3e-5c1d-5e2f-9a4b-7c6d5e4f3a2b")
MAX_GLOBS = 64
_GLOB = re.compile(r"[A-Za-z0-9._\-*?\[\]!]+")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def token_id(name: str) -> UUID:
    """The aggregate id of the token with this name (prefixed: tokens and stacks never meet)."""
    return uuid5(TOKEN_NAMESPACE, f"token:{name}")


def validate_token_name(name: str) -> str:
    """A token's name is the actor on every event it causes: named like a stack."""
    try:
        return validate_stack_name(name)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("stack name", "token name")) from None


def validate_globs(globs: Sequence[str]) -> list[str]:
    """Stack-name patterns (`prod-*`, `app-?`, `[ab]-db`); empty means every stack."""
    if len(globs) > MAX_GLOBS:
        raise InvalidInput(f"a token names at most {MAX_GLOBS} stack patterns")
    for glob in globs:
        if not glob or len(glob) > MAX_NAME_LENGTH or not _GLOB.fullmatch(glob):
            raise InvalidInput(f"invalid stack pattern '{glob[:60]}': use the characters of "
                               "stack names and the wildcards * ? [ ]", field="stack")
    return list(dict.fromkeys(globs))


def allows(globs: Sequence[str], stack: str) -> bool:
    """Whether a token limited to these patterns may see and touch this stack."""
    return not globs or any(fnmatchcase(stack, glob) for glob in globs)


class TokenNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"token '{name}' not found", token=name)


class TokenExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"token '{name}' already exists; revoke it first to make a new one",
                         token=name)


class TokenRevoked(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"token '{name}' is already revoked", token=name)


class TokenEvent(DomainEvent):
    """An event in one token's stream."""


class TokenCreated(TokenEvent, CanInitAggregate[UUID]):
    """A token was made (or made again after it was revoked); `digest` is its secret's SHA-256."""

    TOPIC: ClassVar[str] = "token.created"
    originator_topic: str
    name: str
    digest: str
    read_only: bool = False
    stacks: list[str] = []

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        return CanMutateAggregate.mutate(self, aggregate)

    def apply(self, aggregate: Any) -> None:
        aggregate.name = self.name
        aggregate.digest = self.digest
        aggregate.read_only = self.read_only
        aggregate.stacks = list(self.stacks)
        aggregate.revoked_at = None


class TokenWasRevoked(TokenEvent):
    """The token no longer opens anything."""

    TOPIC: ClassVar[str] = "token.revoked"
    name: str

    def apply(self, aggregate: Any) -> None:
        aggregate.revoked_at = self.timestamp


class ApiToken(BaseAggregate[UUID]):
    """A named token: read-only or not, limited to some stacks or not, revocable."""

    TOPIC: ClassVar[str] = "api_token"

    if TYPE_CHECKING:
        name: str
        digest: str
        read_only: bool
        stacks: list[str]
        revoked_at: datetime | None

    Event: TypeAlias = TokenEvent
    Created: TypeAlias = TokenCreated
    Revoked: TypeAlias = TokenWasRevoked

    @classmethod
    def create(cls, name: str, digest: str, invocation: Invocation, *, read_only: bool,
               stacks: Sequence[str]) -> ApiToken:
        return cls._create(cls.Created, id=token_id(validate_token_name(name)), name=name,
                           digest=_digest(digest), read_only=read_only,
                           stacks=validate_globs(stacks), **stamp(invocation))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def recreate(self, digest: str, invocation: Invocation, *, read_only: bool,
                 stacks: Sequence[str]) -> None:
        """A revoked token's name made into a new token (with a new secret)."""
        if not self.is_revoked:
            raise TokenExists(self.name)
        self.trigger_event(self.Created, originator_topic=self.TOPIC, name=self.name,
                           digest=_digest(digest), read_only=read_only,
                           stacks=validate_globs(stacks), **self._stamp(invocation))

    def revoke(self, invocation: Invocation) -> None:
        if self.is_revoked:
            raise TokenRevoked(self.name)
        self.trigger_event(self.Revoked, name=self.name, **self._stamp(invocation))

    def _stamp(self, invocation: Invocation) -> dict[str, Any]:
        fields = stamp(invocation)
        fields["timestamp"] = max(fields["timestamp"], self.modified_on)
        return fields


def _digest(digest: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise InvalidInput("a token's digest is a SHA-256 in lower-case hex")
    return digest
