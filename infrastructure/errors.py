"""Errors from the outside world: ones users can fix (exit code 2), and an unreachable database."""

from __future__ import annotations


class SettingsError(Exception):
    """The configuration cannot be used; the message names the file, key and reason."""


class DatabaseUnusable(Exception):
    """The database path cannot be created or is not a SQLite database, or the PostgreSQL
    server refuses the configured credentials or database."""


class DatabaseUnavailable(Exception):
    """The database server cannot be reached or went away; retrying later may work (exit 75)."""
