"""A stack held in memory: the `WorkflowHost` for runs without a database (tests, dry runs)."""

from __future__ import annotations

import copy
import threading
from typing import Any

from domain.errors import InvalidInput
from domain.names import validate_key


class MemoryHost:
    """State values and outputs of one stack in dictionaries; safe to use from many threads."""

    def __init__(self, name: str = "local", status: str = "created",
                 values: dict[str, Any] | None = None,
                 outputs: dict[str, Any] | None = None) -> None:
        self._name = name
        self._status = status
        self._lock = threading.Lock()
        self.values: dict[str, Any] = dict(values or {})
        self.outputs: dict[str, Any] = dict(outputs or {})
        self.secrets: set[str] = set()

    def stack_name(self) -> str:
        return self._name

    def stack_status(self) -> str:
        return self._status

    def get_value(self, key: str) -> Any:
        with self._lock:
            return copy.deepcopy(self.values.get(key))

    def set_value(self, key: str, value: Any) -> None:
        validate_key(key)
        with self._lock:
            self.values[key] = copy.deepcopy(value)

    def set_secret(self, key: str, value: Any) -> None:
        """Held in memory like any value (nothing is stored), remembered as a secret."""
        self.set_value(key, value)
        with self._lock:
            self.secrets.add(key)

    def delete_value(self, key: str) -> bool:
        with self._lock:
            self.secrets.discard(key)
            return self.values.pop(key, None) is not None

    def has_value(self, key: str) -> bool:
        with self._lock:
            return key in self.values

    def value_keys(self) -> list[str]:
        with self._lock:
            return sorted(self.values)

    def increment_value(self, key: str, by: int | float) -> int | float:
        validate_key(key)
        with self._lock:
            current = self.values.get(key, 0)
            if isinstance(current, bool) or not isinstance(current, int | float):
                raise InvalidInput(f"state value '{key}' is not a number")
            self.values[key] = current + by
            return current + by

    def get_output(self, key: str) -> Any:
        with self._lock:
            return copy.deepcopy(self.outputs.get(key))

    def set_output(self, key: str, value: Any) -> None:
        validate_key(key, "output key")
        with self._lock:
            self.outputs[key] = copy.deepcopy(value)
