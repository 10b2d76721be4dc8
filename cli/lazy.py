"""Command groups whose sub-groups are imported only when used.

Building a click command for every sub-command costs start-up time on every run; a lazy
group imports `cli.<module>` and builds its typer app only when that group is invoked (or
when help lists it).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer

from cli.help import DocumentedGroup


class LazyGroup(DocumentedGroup):
    """A TyperGroup with extra sub-groups named in `LAZY` as `name -> module`."""

    LAZY: dict[str, str] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in self.LAZY if name not in eager)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.LAZY:
            module = importlib.import_module(self.LAZY[cmd_name])
            command = typer.main.get_command(module.app)
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return command


def lazy_group(**modules: str) -> type[LazyGroup]:
    """A LazyGroup class whose sub-groups are these modules (each with a typer `app`)."""
    return type("LazyGroup", (LazyGroup,), {"LAZY": modules})
