"""The one place where exceptions become exit codes and one-line messages."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from cli.exit_codes import ExitCode
from domain import errors
from infrastructure.errors import DatabaseUnavailable, DatabaseUnusable, SettingsError

F = TypeVar("F", bound=Callable[..., Any])

_CATEGORIES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (errors.InvalidInput, ExitCode.USAGE),
    (SettingsError, ExitCode.USAGE),
    (DatabaseUnusable, ExitCode.USAGE),
    (errors.LockConflict, ExitCode.LOCKED),
    (errors.NotFound, ExitCode.NOT_FOUND),
    (errors.Conflict, ExitCode.CONFLICT),
    (errors.CheckFailed, ExitCode.CHECK_FAILED),
    (DatabaseUnavailable, ExitCode.UNAVAILABLE),
)


class UsageProblem(Exception):
    """Arguments that parse but cannot be used together (exit 2)."""


def exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, UsageProblem):
        return ExitCode.USAGE
    for category, code in _CATEGORIES:
        if isinstance(exc, category):
            return code
    return ExitCode.INTERNAL


def report(exc: BaseException, *, debug: bool = False) -> ExitCode:
    """Print the error as one line on stderr (plus detail lines some errors carry)."""
    code = exit_code_for(exc)
    if code is ExitCode.INTERNAL:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        message = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
        print(f"error: {message} (run with --debug for the traceback)", file=sys.stderr)
        return code
    print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
          file=sys.stderr)
    lock = getattr(exc, "lock", None)
    if lock is not None:
        from cli.lockview import lock_info_block
        from infrastructure.clock import now

        for line in lock_info_block(lock, now()):
            print(line, file=sys.stderr)
    return code


def handled(function: F) -> F:
    """Run a command, turning any exception into its exit code and a message on stderr."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except Exception as exc:
            context = kwargs.get("ctx")
            root = context.find_root() if context is not None else None
            debug = bool(getattr(getattr(root, "obj", None), "debug", False))
            raise typer.Exit(int(report(exc, debug=debug))) from None

    return wrapper  # type: ignore[return-value]


class Typer(typer.Typer):
    """A typer.Typer whose commands all report errors through `handled`."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("add_completion", False)
        super().__init__(**options)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(*args, **kwargs)

        def decorator(function: F) -> F:
            register(handled(function))
            return function

        return decorator
