"""What every command can reach: the global options, the runtime, and the invocation."""

from __future__ import annotations

import os
import sys
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from commands.service import StackService
    from domain.invocation import Invocation
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings
    from infrastructure.sql import Connection

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

NAME_MAX = 255
PATH_MAX = 4096


def path_text(text: str) -> str:
    """A path option as typed, if it can name a file at all (no NUL byte, no name longer
    than file systems allow); the usage error names what is wrong."""
    if "\x00" in text:
        raise typer.BadParameter("a path cannot contain a NUL character")
    encoded = os.fsencode(text)
    if len(encoded) >= PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise typer.BadParameter(f"the path is longer than file systems allow "
                                 f"({NAME_MAX} bytes a name, {PATH_MAX} in all)")
    return text

LockIdOption = Annotated[
    str | None,
    typer.Option("--lock-id", help="Present this lock id (env SLOTH_RUNNER_LOCK_ID) as holder."),
]


class CliState:
    """The global options of one invocation and the things built from them on demand."""

    def __init__(self, db: str | None = None, config: str | None = None, *, json: bool = False,
                 no_color: bool = False, debug: bool = False,
                 database_url: str | None = None) -> None:
        self.db = db
        self.database_url = database_url
        self.config = config
        self.json = json
        self.no_color = no_color
        self.debug = debug
        self.correlation_id = str(uuid.uuid4())
        self._runtime: Runtime | None = None

    def settings(self) -> Settings:
        return self.runtime().settings

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from infrastructure.runtime import Runtime
            from infrastructure.settings import resolve_settings

            self._runtime = Runtime(resolve_settings(self.db, self.config, self.database_url))
        return self._runtime

    def use_database_without_config(self) -> bool:
        """After a config file error: go on with defaults on the database the flag or the
        environment names; False (and nothing changed) when only the config file names it."""
        from infrastructure.runtime import Runtime
        from infrastructure.settings import named_database, settings_for

        named = named_database(self.db, self.database_url)
        if named is None:
            return False
        self._runtime = Runtime(settings_for(named))
        return True

    def reader(self) -> Connection:
        """Read models, caught up with every event so far (the user reads their own writes)."""
        return self.runtime().reader()

    def service(self) -> StackService:
        return self.runtime().service()

    def written(self) -> None:
        """After a write: bring the read models up to date before printing. The new events
        go to hooks when the command ends (`close`), after it has printed; a long-running
        command may call `runtime().deliver_to_hooks()` to deliver as it goes."""
        self.runtime().catch_up()

    def finish(self, outcome: Any, json_flag: bool, message: str) -> None:
        """After a write: catch the read models up, print the outcome or the message, then
        deliver the new events to hooks (a slow hook does not hold the answer back)."""
        from cli import output

        runtime = self.runtime()
        runtime.catch_up()
        if self.wants_json(json_flag):
            output.emit_json(outcome.to_json())
        else:
            output.say(message)
        sys.stdout.flush()
        runtime.deliver_to_hooks()

    def known_stack(self, name: str) -> str:
        """The id of a stack that exists or existed (destroyed ones included); else exit 4."""
        from domain.errors import StackNotFound
        from domain.names import stack_id, validate_stack_name
        from projections.queries.stacks import is_known_stack

        validate_stack_name(name)
        identity = str(stack_id(name))
        if not is_known_stack(self.reader(), identity):
            raise StackNotFound(name)
        return identity

    def invocation(self, *, lock_id: str | None = None) -> Invocation:
        from domain.invocation import Invocation, Source
        from infrastructure.clock import now
        from infrastructure.identity import default_actor, presented_lock_id

        return Invocation(
            actor=default_actor(),
            source=Source.CLI,
            correlation_id=self.correlation_id,
            at=now(),
            lock_id=lock_id or presented_lock_id(),
        )

    def wants_json(self, flag: bool) -> bool:
        return self.json or flag

    def color(self) -> bool:
        return not self.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()

    def close(self) -> None:
        if self._runtime is not None:
            try:
                self._runtime.deliver_to_hooks()  # what the command wrote, now it has printed
            finally:
                self._runtime.close()
                self._runtime = None


def state(ctx: typer.Context) -> CliState:
    """The CliState of this invocation, from the root command's context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
