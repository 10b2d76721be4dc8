"""Who is acting: the actor recorded on every event."""

from __future__ import annotations

import getpass
import os
import socket

ACTOR_ENV = "SLOTH_RUNNER_ACTOR"
LOCK_ID_ENV = "SLOTH_RUNNER_LOCK_ID"


def default_actor() -> str:
    """`SLOTH_RUNNER_ACTOR`, or `user@host` for the current user and machine."""
    configured = os.environ.get(ACTOR_ENV, "").strip()
    if configured:
        return configured
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def presented_lock_id() -> str | None:
    """The lock id the environment presents (`SLOTH_RUNNER_LOCK_ID`), if any."""
    value = os.environ.get(LOCK_ID_ENV, "").strip()
    return value or None
