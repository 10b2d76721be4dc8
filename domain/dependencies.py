"""Dependencies between stacks: the rules for declaring them and the errors they raise.

An edge `app -> db` means "app depends on db": db must be in place before app runs. It is
recorded in the dependent stack's stream and may name a stack that does not exist yet.
The graph algorithms (cycles, order, layers) run on the read side, with networkx.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from domain.errors import CheckFailed, InvalidInput, NotFound
from domain.names import validate_stack_name

MISSING = "missing"
"""The status shown for a name a dependency declares but no stack has."""
DESTROYED = "destroyed"


def format_path(path: Sequence[str]) -> str:
    """`a -> b -> a`: how a dependency path or cycle reads."""
    return " -> ".join(path)


def validate_dependencies(stack: str, names: Iterable[str]) -> list[str]:
    """The names, each a valid stack name other than `stack`, without repeats, in order."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        validate_stack_name(name)
        if name == stack:
            raise SelfDependency(stack)
    return wanted


class SelfDependency(InvalidInput):
    def __init__(self, stack: str) -> None:
        super().__init__(f"stack '{stack}' cannot depend on itself", stack=stack)


class DependencyNotDeclared(NotFound):
    def __init__(self, stack: str, dependency: str) -> None:
        super().__init__(f"stack '{stack}' does not depend on '{dependency}'",
                         stack=stack, dependency=dependency)


class DependencyCycle(CheckFailed):
    """Dependencies that go round in a circle: no order can satisfy them (exit 1).

    `cycle` starts and ends with the same stack: `["a", "b", "a"]`.
    """

    def __init__(self, cycle: Sequence[str], detail: str = "") -> None:
        super().__init__(f"dependency cycle: {format_path(cycle)}{detail}", cycle=list(cycle))
        self.cycle = list(cycle)


class CycleRefused(DependencyCycle):
    """Declaring this dependency would close a cycle among existing stacks."""

    def __init__(self, stack: str, dependency: str, path_back: Sequence[str]) -> None:
        # path_back runs from the dependency to the stack along existing edges.
        super().__init__([stack, *path_back],
                         f" (refused: '{stack}' cannot depend on '{dependency}')")
        self.stack = stack
        self.dependency = dependency
