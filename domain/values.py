"""State values and outputs are JSON values that every reader can take back exactly."""

from __future__ import annotations

import math
from typing import Any

from domain.errors import InvalidInput

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class IntegerOutOfRange(InvalidInput):
    """An integer that JSON readers (and SQLite) would turn into a float or refuse."""

    def __init__(self, key: str, literal: str) -> None:
        shown = literal if len(literal) <= 40 else literal[:37] + "..."
        super().__init__(
            f"invalid value for '{key}': the integer {shown} does not fit in a signed 64-bit "
            f"integer; quote it to store it as a string (\"{shown}\")",
            key=key)


def check_json_value(key: str, value: Any) -> Any:
    """Return the value if it is storable JSON: integers within signed 64 bits, finite
    numbers, string object keys; otherwise raise InvalidInput naming the key."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise IntegerOutOfRange(key, str(item) if item.bit_length() < 4096
                                        else f"of {item.bit_length()} bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"invalid value for '{key}': {item} is not a JSON number")
        elif isinstance(item, dict):
            if not all(isinstance(name, str) for name in item):
                raise InvalidInput(f"invalid value for '{key}': object keys must be strings")
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        else:
            raise InvalidInput(
                f"invalid value for '{key}': a {type(item).__name__} is not a JSON value")
    return value
