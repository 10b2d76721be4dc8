"""API tokens as a use case: make one (its secret is shown once, only its digest is kept),
revoke one."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import RecordConflictError
from pydantic import Field

from commands.models import Command
from domain.errors import ConcurrentModification
from domain.invocation import Invocation
from domain.tokens import ApiToken, TokenNotFound, token_id, validate_token_name

SECRET_PREFIX = "slr_"
MAX_ATTEMPTS = 25


def digest_of(secret: str) -> str:
    """What is kept of a secret: its SHA-256 (secrets are random, 256 bits: no salt needed)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class CreateToken(Command):
    name: str
    read_only: bool = False
    stacks: list[str] = Field(default_factory=list)
    """Stack-name patterns the token is limited to (every stack when empty)."""


@dataclass(frozen=True)
class MadeToken:
    """A new token: the secret is in here and nowhere else."""

    name: str
    secret: str
    read_only: bool
    stacks: list[str]


class TokenService:
    """Makes and revokes tokens in the event store."""

    def __init__(self, store: Application[UUID], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def create(self, command: CreateToken, invocation: Invocation) -> MadeToken:
        validate_token_name(command.name)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        digest = digest_of(secret)

        def attempt(inv: Invocation) -> ApiToken:
            try:
                token = self._load(command.name)
            except TokenNotFound:
                return ApiToken.create(command.name, digest, inv, read_only=command.read_only,
                                       stacks=command.stacks)
            token.recreate(digest, inv, read_only=command.read_only, stacks=command.stacks)
            return token

        token = self._save(command.name, invocation, attempt)
        return MadeToken(token.name, secret, token.read_only, list(token.stacks))

    def revoke(self, name: str, invocation: Invocation) -> None:
        def attempt(inv: Invocation) -> ApiToken:
            token = self._load(name)
            token.revoke(inv)
            return token

        self._save(name, invocation, attempt)

    def _load(self, name: str) -> ApiToken:
        try:
            token: ApiToken = self.store.repository.get(token_id(name))
        except AggregateNotFoundError:
            raise TokenNotFound(name) from None
        return token

    def _save(self, name: str, invocation: Invocation,
              attempt: Callable[[Invocation], ApiToken]) -> ApiToken:
        for _ in range(MAX_ATTEMPTS):
            token = attempt(invocation.model_copy(update={"at": self.clock()}))
            try:
                self.store.save(token)
            except RecordConflictError:
                continue
            return token
        raise ConcurrentModification(name, MAX_ATTEMPTS)
