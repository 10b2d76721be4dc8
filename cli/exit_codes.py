"""The exit codes of `sloth-runner` (see docs/cli-reference.md)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Success, or the check passed."""
    CHECK_FAILED = 1
    """A check found problems, or the operation failed."""
    USAGE = 2
    """Bad arguments, invalid name, bad duration, bad config file, unusable database."""
    LOCKED = 3
    """Locked by someone else, not the holder, or a wait timed out."""
    NOT_FOUND = 4
    """Stack, snapshot version, resource or key not found."""
    CONFLICT = 5
    """Already exists, destroyed, or a concurrent modification that retries could not resolve."""
    INTERNAL = 70
    """An internal error (the traceback is shown with --debug)."""
    UNAVAILABLE = 75
    """The database server cannot be reached (sysexits' EX_TEMPFAIL); retry later."""
