"""Errors from the outside world that users can fix (exit code 2)."""

from __future__ import annotations


class SettingsError(Exception):
    """The configuration cannot be used; the message names the file, key and reason."""


class DatabaseUnusable(Exception):
    """The database path cannot be created or is not a SQLite database."""
