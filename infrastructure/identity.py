"""Who is acting: the actor recorded on every event."""

from __future__ import annotations

import getpass
import os
import socket
import unicodedata

ACTOR_ENV = "SLOTH_RUNNER_ACTOR"
LOCK_ID_ENV = "SLOTH_RUNNER_LOCK_ID"
MAX_IDENTITY = 1024


def default_actor() -> str:
    """`SLOTH_RUNNER_ACTOR`, or `user@host` for the current user and machine."""
    configured = os.environ.get(ACTOR_ENV, "").strip()
    if configured:
        return _checked(configured, ACTOR_ENV)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def presented_lock_id() -> str | None:
    """The lock id the environment presents (`SLOTH_RUNNER_LOCK_ID`), if any."""
    value = os.environ.get(LOCK_ID_ENV, "").strip()
    return _checked(value, LOCK_ID_ENV) if value else None


def _checked(value: str, variable: str) -> str:
    """An identity from the environment must be text that can be recorded."""
    from domain.errors import InvalidInput

    if len(value) > MAX_IDENTITY:
        raise InvalidInput(f"{variable} is longer than {MAX_IDENTITY} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{variable} is not valid UTF-8 text") from None
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise InvalidInput(f"{variable} must not contain control characters")
    return value
