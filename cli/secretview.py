"""`--show-secrets`: secret values in plain text, for the one who holds the key.

Without the flag nothing here runs and no key is needed: whatever prints a value shows a
secret as `[secret]` (`cli.output`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from cli.context import CliState

ShowSecrets = Annotated[bool, typer.Option(
    "--show-secrets", help="Show secret values in plain text (needs the secret key).")]


def has_secret(values: dict[str, Any]) -> bool:
    from domain.secrets import is_secret

    return any(is_secret(value) for value in values.values())


def revealed(st: CliState, show: bool, stack: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values, with each secret opened when `show` is given (else as they are)."""
    if not show or not has_secret(values):
        return values
    keyring = st.runtime().keyring()
    return {key: keyring.open(stack, key, value) for key, value in values.items()}


def revealed_state(st: CliState, show: bool, stack: str, state: dict[str, Any]) -> dict[str, Any]:
    """A state document (`values`, `outputs`, ...) with its secrets opened when asked."""
    if not show:
        return state
    return {**state, **{section: revealed(st, show, stack, state[section])
                        for section in ("values", "outputs") if section in state}}
