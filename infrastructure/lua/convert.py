"""Values crossing between Lua and Python: JSON-able data only, never live objects."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lupa.lua54 import LuaRuntime, lua_type

MAX_DEPTH = 64


class NotData(ValueError):
    """A Lua value that cannot be stored or exchanged (a function, a cycle, NaN, ...)."""


def to_python(value: Any, *, depth: int = 0) -> Any:
    """A Lua value as JSON-able Python: tables with keys 1..n become lists, others dicts.

    An empty table becomes an empty dict. Keys that are numbers become strings. A table
    that contains itself is caught by the depth limit (lupa gives each access a new wrapper,
    so Python cannot tell two wrappers of one table apart).
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotData(f"{value} is not a number JSON can hold")
        return value
    kind = lua_type(value)
    if kind != "table":
        raise NotData(f"a {kind or 'Python object'} is not data (use strings, numbers, "
                      "booleans and tables)")
    if depth >= MAX_DEPTH:
        raise NotData(f"tables are nested deeper than {MAX_DEPTH} levels (or a table contains "
                      "itself)")
    items = list(value.items())
    keys = [key for key, _ in items]
    if items and all(isinstance(key, int) and not isinstance(key, bool) for key in keys) and (
            sorted(keys) == list(range(1, len(keys) + 1))):
        ordered = sorted(items, key=lambda item: item[0])
        return [to_python(item, depth=depth + 1) for _, item in ordered]
    result: dict[str, Any] = {}
    for key, item in items:
        if isinstance(key, bool) or not isinstance(key, str | int | float):
            raise NotData(f"a table key must be a string or a number, not a {lua_type(key) or 'boolean'}")
        result[key if isinstance(key, str) else _number_key(key)] = to_python(
            item, depth=depth + 1)
    return result


def _number_key(key: float) -> str:
    return str(int(key)) if isinstance(key, float) and key.is_integer() else str(key)


def to_lua(lua: LuaRuntime, value: Any) -> Any:
    """JSON-able Python as a Lua value (dicts and lists become tables, None nil)."""
    if isinstance(value, Mapping | list | tuple):
        return lua.table_from(value, recursive=True)
    return value
