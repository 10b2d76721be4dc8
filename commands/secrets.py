"""Secret values on the write side: sealed before a stack holds them, sealed again on rotation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from domain.secrets import is_secret, key_id_of
from domain.versions import same_json


class SecretBox(Protocol):
    """Seals plaintext into envelopes and opens them (the keys live in infrastructure)."""

    @property
    def key_id(self) -> str: ...

    def seal(self, stack: str, key: str, value: Any) -> dict[str, Any]: ...

    def open(self, stack: str, key: str, value: Any) -> Any: ...


SecretBoxes = Callable[[], SecretBox]
"""Loads the keys when a secret is first sealed or opened (a missing key is an error then)."""


def sealed(box: SecretBox, stack: str, current: Mapping[str, Any],
           secrets: Mapping[str, Any]) -> dict[str, Any]:
    """Envelopes for these secrets. A secret set again to the plaintext it holds keeps its
    envelope (under the key in use), so that setting it again is no change."""
    result: dict[str, Any] = {}
    for key, value in secrets.items():
        present = current.get(key)
        if key_id_of(present) == box.key_id and same_json(box.open(stack, key, present), value):
            result[key] = present
        else:
            result[key] = box.seal(stack, key, value)
    return result


def resealed(opener: SecretBox, sealer: SecretBox, stack: str,
             current: Mapping[str, Any]) -> dict[str, Any]:
    """The secrets not yet under the sealer's key, opened and sealed again under it."""
    return {key: sealer.seal(stack, key, opener.open(stack, key, value))
            for key, value in current.items()
            if is_secret(value) and key_id_of(value) != sealer.key_id}
