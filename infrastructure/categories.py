"""What kind of failure an error is, for every front door: the CLI turns a category into an
exit code, the HTTP server into a status. One table, so that both agree."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from domain import errors
from infrastructure.errors import DatabaseUnavailable, DatabaseUnusable, SettingsError


class Category(StrEnum):
    """A failure's category; its value is the stable `code` scripts and clients read."""

    INVALID_INPUT = "invalid_input"
    CHECK_FAILED = "check_failed"
    CANCELLED = "cancelled"
    LOCKED = "locked"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    INTERRUPTED = "interrupted"
    INTERNAL = "internal"


Kinds = Sequence[tuple[type[BaseException], Category]]

CATEGORIES: Kinds = (
    (errors.InvalidInput, Category.INVALID_INPUT),
    (SettingsError, Category.INVALID_INPUT),
    (DatabaseUnusable, Category.INVALID_INPUT),
    (errors.LockConflict, Category.LOCKED),
    (errors.NotFound, Category.NOT_FOUND),
    (errors.Conflict, Category.CONFLICT),
    (errors.CheckFailed, Category.CHECK_FAILED),
    (KeyboardInterrupt, Category.INTERRUPTED),
    (DatabaseUnavailable, Category.UNAVAILABLE),
)
"""Checked in order: the first kind the error is an instance of names its category."""


def category_of(exc: BaseException, first: Kinds = ()) -> Category:
    """The category of an error; `first` are a front door's own kinds, checked before."""
    for kind, category in (*first, *CATEGORIES):
        if isinstance(exc, kind):
            return category
    return Category.INTERNAL
