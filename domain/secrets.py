"""Secret values: what the domain holds of them is an opaque, encrypted envelope.

A secret state value or output is stored as `{"$secret": {"v": 1, "kid": ..., "n": ...,
"c": ...}}`: the format version, the id of the key it was encrypted with, the nonce and the
ciphertext (base64). The domain never sees the plaintext; sealing and opening envelopes is
done outside it, with the key. Everything that prints a value shows an envelope as `[secret]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidInput

MARKER = "$secret"
"""The reserved key of an envelope; a plain value may not use it."""
MASK = "[secret]"
"""How a secret reads wherever it is printed without being revealed."""
ENVELOPE_VERSION = 1
_FIELDS = frozenset({"v", "kid", "n", "c"})


def is_secret(value: Any) -> bool:
    """Whether a stored value is an encrypted envelope."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    body = value.get(MARKER)
    return isinstance(body, dict) and body.keys() == _FIELDS


def envelope(key_id: str, nonce: str, ciphertext: str) -> dict[str, Any]:
    """The stored form of a secret value."""
    return {MARKER: {"v": ENVELOPE_VERSION, "kid": key_id, "n": nonce, "c": ciphertext}}


def key_id_of(value: Any) -> str | None:
    """The id of the key an envelope was encrypted with (None for a plain value)."""
    return str(value[MARKER]["kid"]) if is_secret(value) else None


def masked(value: Any) -> Any:
    """The value as it may be shown to anyone: `[secret]` for an envelope."""
    return MASK if is_secret(value) else value


def masked_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: masked(value) for key, value in values.items()}


def mask_deep(document: Any) -> Any:
    """The document with every envelope in it, at any depth, replaced by `[secret]`."""
    if isinstance(document, dict):
        if is_secret(document):
            return MASK
        return {key: mask_deep(item) for key, item in document.items()}
    if isinstance(document, list | tuple):
        return [mask_deep(item) for item in document]
    return document


def refuse_marker(key: str, value: Any) -> Any:
    """A plain value may not contain the reserved key `$secret` (it would read as a secret)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if MARKER in item:
                raise InvalidInput(f"invalid value for '{key}': the object key '{MARKER}' is "
                                   "reserved for encrypted secrets (set a secret with --secret)",
                                   key=key)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return value
