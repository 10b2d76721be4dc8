"""Envelopes: a fresh nonce each time, bound to their stack and key, opened by their key id."""

from __future__ import annotations

import os

import pytest

from domain.secrets import MARKER, MASK, is_secret, mask_deep
from infrastructure.secrets import Keyring, SecretKey, SecretKeyError, parse_key


def keyring(*fallbacks: SecretKey) -> Keyring:
    return Keyring(SecretKey(os.urandom(32), "test"), fallbacks)


def test_each_seal_has_a_fresh_nonce_and_opens_to_the_value() -> None:
    ring = keyring()
    first, second = ring.seal("app", "pw", {"a": [1, "x"]}), ring.seal("app", "pw", {"a": [1, "x"]})
    assert is_secret(first) and first != second
    assert first[MARKER]["n"] != second[MARKER]["n"]
    assert ring.open("app", "pw", first) == {"a": [1, "x"]}


@pytest.mark.parametrize(("stack", "key"), [("other", "pw"), ("app", "other")])
def test_an_envelope_moved_to_another_stack_or_key_does_not_open(stack: str, key: str) -> None:
    ring = keyring()
    sealed = ring.seal("app", "pw", "hunter2")
    with pytest.raises(SecretKeyError, match="altered, or sealed for another"):
        ring.open(stack, key, sealed)


def test_a_fallback_key_opens_what_it_sealed() -> None:
    old = keyring()
    sealed = old.seal("app", "pw", "v")
    assert keyring(old.primary).open("app", "pw", sealed) == "v"
    with pytest.raises(SecretKeyError, match="neither the key in use"):
        keyring().open("app", "pw", sealed)


def test_masking_reaches_every_depth_and_leaves_plain_values() -> None:
    sealed = keyring().seal("app", "pw", "v")
    assert mask_deep({"a": [sealed, {"b": sealed}], "c": 1}) == {"a": [MASK, {"b": MASK}], "c": 1}
    assert mask_deep({"$secret": "not an envelope"}) == {"$secret": "not an envelope"}


@pytest.mark.parametrize("text", ["not base64!", "AAAA", ""])
def test_a_badly_made_key_is_refused(text: str) -> None:
    with pytest.raises(SecretKeyError):
        parse_key(text, "test")
