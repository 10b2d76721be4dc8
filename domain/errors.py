"""Domain errors. Each belongs to one category; the CLI maps categories to exit codes."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    """The input breaks a rule: a bad name, key, value, duration or version."""


class NotFound(DomainError):
    """The named thing does not exist."""


class Conflict(DomainError):
    """The change conflicts with the current state (exists, destroyed, raced)."""


class LockConflict(DomainError):
    """The stack is locked by someone else, or the caller does not hold its lock."""


class CheckFailed(DomainError):
    """A check ran and found problems, or an operation failed."""


class InvalidStackName(InvalidInput):
    pass


class InvalidKey(InvalidInput):
    pass


class StackNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"stack '{name}' not found", stack=name)


class KeyNotFound(NotFound):
    def __init__(self, stack: str, key: str, kind: str = "state value") -> None:
        super().__init__(f"{kind} '{key}' not found in stack '{stack}'", stack=stack, key=key)


class StackAlreadyExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"stack '{name}' already exists", stack=name)


class StackDestroyed(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"stack '{name}' is destroyed; create it again to reuse the name", stack=name
        )


class ConcurrentModification(Conflict):
    def __init__(self, name: str, attempts: int) -> None:
        super().__init__(
            f"stack '{name}' kept changing under this command ({attempts} attempts); try again",
            stack=name,
        )
