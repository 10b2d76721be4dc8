"""Errors from the outside world: ones users can fix (exit code 2), and an unreachable database."""

from __future__ import annotations


class SettingsError(Exception):
    """The configuration cannot be used; the message names the file, key and reason."""


class DatabaseUnusable(Exception):
    """The database file cannot be used as it is; the message says why and what to do."""


class ForeignDatabase(DatabaseUnusable):
    """The file holds another program's data (the original Go tool's, say); it is left unchanged."""


class DamagedDatabase(DatabaseUnusable):
    """SQLite reports the file as corrupt."""


class ReadOnlyDatabase(DatabaseUnusable):
    """A change was asked of a database this process may only read."""


class DatabaseUnavailable(Exception):
    """The database server cannot be reached or went away; retrying later may work (exit 75)."""
