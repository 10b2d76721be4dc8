"""The one place where exceptions become exit codes and messages: one line on stderr, or,
under `--json`, one JSON object `{"error": {"code", "exit_code", "message", ...details}}`."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import typer
from typer.core import TyperGroup

from cli.exit_codes import ExitCode
from domain import errors
from infrastructure.categories import Category as Kind
from infrastructure.categories import category_of as kind_of

F = TypeVar("F", bound=Callable[..., Any])


FLAGS = {"ttl": "--ttl", "locked_by": "--locked-by", "operation": "--operation",
         "reason": "--reason", "creator": "--creator", "metadata": "--metadata"}
"""The command-line flag through which each input field the domain names arrives."""


def message_of(exc: BaseException) -> str:
    """The error's one-line message, in the CLI's terms (the flag to use, the flag to pass)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    details = getattr(exc, "details", {})
    flag = FLAGS.get(details.get("field", ""))
    if flag is not None:
        text = f"invalid {flag}: {text}"
    if isinstance(exc, errors.LockConflict) and details.get("yours"):
        text += "; pass --force to destroy it anyway"
    return text


class UsageProblem(Exception):
    """Arguments that parse but cannot be used together (exit 2)."""


class Cancelled(Exception):
    """The user said no at a confirmation prompt, or closed it (exit 1)."""


class Category(NamedTuple):
    """What kind of failure an error is: a stable name for scripts, and its exit code."""

    code: str
    exit_code: ExitCode


INVALID_INPUT = Category(Kind.INVALID_INPUT, ExitCode.USAGE)
CHECK_FAILED = Category(Kind.CHECK_FAILED, ExitCode.CHECK_FAILED)
CANCELLED = Category(Kind.CANCELLED, ExitCode.CHECK_FAILED)
LOCKED = Category(Kind.LOCKED, ExitCode.LOCKED)
NOT_FOUND = Category(Kind.NOT_FOUND, ExitCode.NOT_FOUND)
CONFLICT = Category(Kind.CONFLICT, ExitCode.CONFLICT)
INTERNAL = Category(Kind.INTERNAL, ExitCode.INTERNAL)
INTERRUPTED = Category(Kind.INTERRUPTED, ExitCode.INTERRUPTED)
UNAVAILABLE = Category(Kind.UNAVAILABLE, ExitCode.UNAVAILABLE)

_BY_KIND = {category.code: category for category in (
    INVALID_INPUT, CHECK_FAILED, CANCELLED, LOCKED, NOT_FOUND, CONFLICT, INTERNAL, INTERRUPTED,
    UNAVAILABLE)}
_CLI_KINDS = ((UsageProblem, Kind.INVALID_INPUT), (Cancelled, Kind.CANCELLED))
"""The CLI's own errors; the rest are categorised in `infrastructure.categories`."""


def category_of(exc: BaseException) -> Category:
    return _BY_KIND[kind_of(exc, _CLI_KINDS)]


def exit_code_for(exc: BaseException) -> ExitCode:
    return category_of(exc).exit_code


def report(exc: BaseException, *, debug: bool = False, json: bool = False) -> ExitCode:
    """Print the error on stderr: one line (plus the holder's details for a lock conflict),
    or one JSON object under --json. Returns its exit code."""
    category = category_of(exc)
    if category is INTERNAL:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        first_line = (str(exc).splitlines() or [""])[0]
        message = f"internal error: {type(exc).__name__}: {first_line}"
        _emit(category, message, {}, json=json,
              hint="" if debug else " (run with --debug for the traceback)")
        return category.exit_code
    message = message_of(exc)
    if category is INTERRUPTED:
        message = "interrupted; what was done before is recorded"
    details = dict(getattr(exc, "details", {}) or {})
    lock = getattr(exc, "lock", None)
    if lock is not None:
        details["lock"] = _lock_document(lock)
    _emit(category, message, details, json=json, lock=None if json else lock)
    return category.exit_code


def report_usage(message: str, *, command: str | None = None, json: bool = False) -> ExitCode:
    """A usage error from the argument parser: one line (or one JSON object), exit 2."""
    hint = f" (see '{command} --help')" if command else ""
    _emit(INVALID_INPUT, message, {"command": command} if command else {}, json=json, hint=hint)
    return INVALID_INPUT.exit_code


def _emit(category: Category, message: str, details: dict[str, Any], *, json: bool,
          hint: str = "", lock: Any = None) -> None:
    from cli import output

    if json:
        document = {"error": {"code": category.code, "exit_code": int(category.exit_code),
                              "message": message, **details}}
        sys.stderr.write(_compact_json(document) + "\n")
        return
    lines = [f"error: {output.printable(message)}{hint}"]
    if lock is not None:
        from cli.lockview import lock_info_block
        from infrastructure.clock import now

        lines += [output.printable(line) for line in lock_info_block(lock, now())]
    sys.stderr.write("".join(line + "\n" for line in lines))


def _lock_document(lock: Any) -> dict[str, Any]:
    from domain.timestamps import to_text

    return {"lock_id": lock.lock_id, "locked_by": lock.locked_by,
            "acquired_by_actor": lock.acquired_by_actor, "operation": lock.operation,
            "reason": lock.reason, "metadata": dict(lock.metadata),
            "locked_at": to_text(lock.locked_at), "expires_at": to_text(lock.expires_at),
            "generation": lock.generation}


def _compact_json(document: Any) -> str:
    import orjson

    return orjson.dumps(document, default=str).decode()


def _damage_named(exc: BaseException, kwargs: dict[str, Any]) -> BaseException:
    """A database found damaged in the middle of a command, said as such with its path (the
    check when the file is opened reads only the pages it needs)."""
    from infrastructure.sqlite import damage_in

    damage = damage_in(exc)
    context = kwargs.get("ctx")
    cli_state = getattr(context.find_root() if context is not None else None, "obj", None)
    runtime = getattr(cli_state, "_runtime", None)
    if damage is None or runtime is None:
        return exc
    from infrastructure.ownership import unreadable

    return unreadable(runtime.settings.db_path, damage)


def _wants_json(kwargs: dict[str, Any]) -> tuple[bool, bool]:
    """(json, debug) for the command being run, from its context and its own --json."""
    context = kwargs.get("ctx")
    root = context.find_root() if context is not None else None
    cli_state = getattr(root, "obj", None)
    json = bool(getattr(cli_state, "json", False) or kwargs.get("json_output"))
    return json, bool(getattr(cli_state, "debug", False))


def handled(function: F) -> F:
    """Run a command, turning any exception into its exit code and a message on stderr."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            # The reader of our output went away; what was committed stays committed.
            from cli import output

            output.stdout_closed()
            raise typer.Exit(int(ExitCode.OK)) from None
        except (Exception, KeyboardInterrupt) as exc:
            json, debug = _wants_json(kwargs)
            raise typer.Exit(int(report(_damage_named(exc, kwargs), debug=debug,
                                        json=json))) from None

    return wrapper  # type: ignore[return-value]


class Typer(typer.Typer):
    """A typer.Typer whose commands all report errors through `handled`."""

    def __init__(self, **options: Any) -> None:
        from cli.help import DocumentedGroup

        options.setdefault("add_completion", False)
        options.setdefault("cls", DocumentedGroup)
        super().__init__(**options)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        from cli.help import DocumentedCommand

        kwargs.setdefault("cls", DocumentedCommand)
        register = super().command(*args, **kwargs)

        def decorator(function: F) -> F:
            register(handled(function))
            return function

        return decorator


def _is_text(arg: str) -> bool:
    """False for an argument whose bytes were not UTF-8 (Python keeps them as surrogates)."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stdout_is_devnull() -> bool:
    import os

    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.stat(os.devnull))
    except (OSError, ValueError):
        return False


def json_requested(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (anywhere before a `--`), even if it does not
    parse."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


COMPLETE_VARIABLE = "_SLOTH_RUNNER_COMPLETE"
"""The environment variable a completion script sets to ask for completions."""


class EntryPoint(TyperGroup):
    """The root group: parses and runs a command line, and turns what the argument parser
    refuses into one line (or one JSON object) and exit 2, a closed stdout into a quiet exit."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        del windows_expand_args  # POSIX shells expand
        import os

        name = prog_name or "sloth-runner"
        variable = complete_var or COMPLETE_VARIABLE
        instruction = os.environ.get(variable)
        if instruction:  # the shell asks what may come next (see `sloth-runner completion`)
            # typer.completion is a public module; these two are its re-exports.
            from typer.completion import (  # type: ignore[attr-defined]
                completion_init,
                shell_complete,
            )

            completion_init()
            code = shell_complete(self, extra, name, variable, instruction)
        else:
            code = self.run(list(sys.argv[1:] if args is None else args), name, extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def run(self, args: list[str], prog_name: str, extra: dict[str, Any]) -> int:
        json = json_requested(args)
        undecodable = next((arg for arg in args if not _is_text(arg)), None)
        if undecodable is not None:
            shown = undecodable.encode("utf-8", "surrogateescape").decode("utf-8",
                                                                          "backslashreplace")
            return int(report_usage(f"argument '{shown}' is not valid UTF-8 text", json=json))
        try:
            try:
                with self.make_context(prog_name, args, **extra) as ctx:
                    result = self.invoke(ctx)
                code = result if isinstance(result, int) else int(ExitCode.OK)
            except typer.Exit as exit_:
                code = exit_.exit_code
            sys.stdout.flush()
        except BrokenPipeError:
            from cli import output

            output.stdout_closed()
            return int(ExitCode.OK)
        except SystemExit as exc:
            # Help is printed with rich, which meets a closed pipe by pointing stdout at
            # /dev/null and raising SystemExit(1); nothing else here exits that way.
            if exc.code == 1 and _stdout_is_devnull():
                return int(ExitCode.OK)
            raise
        except typer.TyperException as exc:
            return self._usage_error(exc, json)
        except (typer.Abort, EOFError):
            return int(report(Cancelled("aborted"), json=json))
        except KeyboardInterrupt as exc:
            return int(report(exc, json=json))
        return code

    @staticmethod
    def _usage_error(exc: typer.TyperException, json: bool) -> int:
        context = getattr(exc, "ctx", None)
        message = " ".join(exc.format_message().split())
        if not message:  # a group run without a command has just printed its help
            message = "missing command"
        return int(report_usage(message, json=json,
                                command=context.command_path if context is not None else None))
