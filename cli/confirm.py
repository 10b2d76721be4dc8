"""Asking before destructive changes: on a TTY ask, otherwise require --yes."""

from __future__ import annotations

import sys

import typer

from cli.errors import Cancelled, UsageProblem


def refuse_without_terminal(*, what: str, flag: str = "--yes") -> None:
    """With no terminal to ask on, refuse (exit 2): the caller must pass `flag` instead."""
    if not sys.stdin.isatty():
        raise UsageProblem(f"refusing to {what} without confirmation: pass {flag}")


def confirm_or_refuse(question: str, *, yes: bool, what: str) -> None:
    """Return if the user agreed (or passed --yes); raise otherwise."""
    if yes:
        return
    refuse_without_terminal(what=what)
    if not typer.confirm(question, default=False):
        raise Cancelled("cancelled")
