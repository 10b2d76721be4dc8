"""Rules for the names users give to stacks and keys."""

from __future__ import annotations

import re
from functools import lru_cache
from uuid import UUID, uuid5

from domain.errors import InvalidKey, InvalidStackName

STACK_NAMESPACE = UUID("6f1c2b8e-3d4a-5b6c-8d7e-9f0a1b2c3d4e")

MAX_NAME_LENGTH = 255
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")


def _shown(text: str) -> str:
    """The text as the user typed it, cut short when long (front doors escape what cannot be
    printed)."""
    return text if len(text) <= 60 else text[:57] + "..."


def validate_stack_name(name: str) -> str:
    """Return the name if it is a valid stack name, otherwise raise InvalidStackName."""
    if not name:
        raise InvalidStackName("invalid stack name '': a name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidStackName(
            f"invalid stack name '{_shown(name)}': longer than {MAX_NAME_LENGTH} characters"
        )
    if not _STACK_NAME.fullmatch(name):
        raise InvalidStackName(
            f"invalid stack name '{_shown(name)}': use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )
    return name


def validate_key(key: str, kind: str = "key") -> str:
    """Return the key if it is a valid state or output key, otherwise raise InvalidKey."""
    if not key:
        raise InvalidKey(f"invalid {kind} '': a {kind} must not be empty")
    if len(key) > MAX_NAME_LENGTH:
        raise InvalidKey(f"invalid {kind} '{_shown(key)}': longer than {MAX_NAME_LENGTH} characters")
    if not _KEY.fullmatch(key):
        raise InvalidKey(
            f"invalid {kind} '{_shown(key)}': use letters, digits, '_', '-', '.' and '/', "
            "starting with a letter, digit or '_'"
        )
    return key


@lru_cache(maxsize=4096)
def stack_id(name: str) -> UUID:
    """The aggregate id of the stack with this name: one name, one event stream, always."""
    return uuid5(STACK_NAMESPACE, name)
