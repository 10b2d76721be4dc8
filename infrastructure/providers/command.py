"""`command` resources: a check command defines the actual state, a fix command repairs it.

Commands run as argument lists, without a shell unless the resource says `shell: true`,
with a timeout, in a stated working directory, with no input.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from domain.durations import coerce_duration, format_duration
from infrastructure.providers.base import (
    AbsolutePath,
    ApplyFailed,
    ProbeFailed,
    ResourceType,
)

MAX_STDOUT = 4096
"""Observed output beyond this many characters is cut (and then matches no expectation)."""
MAX_TIMEOUT = 24 * 3600.0
_REAP_SECONDS = 5.0


def _command_line(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        return value
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    raise ValueError('expected a list of arguments, e.g. ["test", "-f", "/srv/app/marker"]')


CommandLine = Annotated[list[str] | str, BeforeValidator(_command_line)]


def _seconds(value: Any) -> Any:
    return coerce_duration(value, what="timeout", seconds_allowed=True).total_seconds()


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0, le=MAX_TIMEOUT)]


class Expectation(BaseModel):
    """What the check must give for the resource to be in its desired state."""

    model_config = ConfigDict(extra="forbid")

    exit_code: int | None = 0
    """None: any exit code."""
    stdout: str | None = Field(default=None, max_length=MAX_STDOUT)
    """Compared without trailing whitespace; None: any output."""

    @field_validator("stdout")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        return value.rstrip() if value is not None else None

    @model_validator(mode="after")
    def _expects_something(self) -> Expectation:
        if self.exit_code is None and self.stdout is None:
            raise ValueError("expect needs exit_code, stdout or both")
        return self


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: CommandLine
    fix: CommandLine | None = None
    expect: Expectation = Expectation()
    shell: bool = False
    timeout: Seconds = 30.0
    cwd: AbsolutePath = "/"

    @model_validator(mode="after")
    def _shell_form(self) -> CommandSpec:
        for field, value in (("check", self.check), ("fix", self.fix)):
            if isinstance(value, str) and not self.shell:
                raise ValueError(f"{field} is a string: give a list of arguments, or set "
                                 "shell: true to run it through /bin/sh")
            if isinstance(value, list) and self.shell:
                raise ValueError(f"with shell: true, {field} must be one string")
        return self


class Ran(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


def run(command: list[str] | str, spec: CommandSpec, failure: type[Exception], what: str) -> Ran:
    """Run a check or fix; a timeout kills its whole process group."""
    program = command if isinstance(command, str) else command[0]
    try:
        process = subprocess.Popen(
            command, shell=spec.shell, cwd=spec.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as error:
        where = f": {error.filename}" if error.filename not in (None, program) else ""
        raise failure(f"cannot run {what} '{program}': {error.strerror or error}{where}") from None
    try:
        out, err = process.communicate(timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=_REAP_SECONDS)
        raise failure(f"{what} timed out after "
                      f"{format_duration(timedelta(seconds=spec.timeout))}") from None
    return Ran(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _shown_stdout(text: str) -> str:
    text = text.rstrip()
    return text if len(text) <= MAX_STDOUT else text[:MAX_STDOUT] + "...[cut]"


class CommandType(ResourceType[CommandSpec]):
    """A state only commands can see: `check` observes it, `fix` repairs it."""

    spec = CommandSpec
    parallel_reads = True

    def expected(self, spec: CommandSpec) -> dict[str, Any]:
        wanted: dict[str, Any] = {}
        if spec.expect.exit_code is not None:
            wanted["exit_code"] = spec.expect.exit_code
        if spec.expect.stdout is not None:
            wanted["stdout"] = spec.expect.stdout
        return wanted

    def read(self, spec: CommandSpec) -> dict[str, Any]:
        ran = run(spec.check, spec, ProbeFailed, "check")
        return {"exit_code": ran.exit_code, "stdout": _shown_stdout(ran.stdout)}

    def apply(self, spec: CommandSpec) -> None:
        if spec.fix is None:
            raise ApplyFailed("no fix command is declared")
        ran = run(spec.fix, spec, ApplyFailed, "fix")
        if ran.exit_code != 0:
            said = ran.stderr.strip().splitlines() or ran.stdout.strip().splitlines() or [""]
            detail = f": {said[-1][:200]}" if said[-1] else ""
            raise ApplyFailed(f"fix exited with {ran.exit_code}{detail}")

    def adopt(self, spec: CommandSpec, observed: Mapping[str, Any]) -> dict[str, Any]:
        attributes = spec.model_dump(mode="json")
        expect: dict[str, Any] = {"exit_code": None, "stdout": None}
        if spec.expect.exit_code is not None:
            expect["exit_code"] = observed.get("exit_code")
        if spec.expect.stdout is not None:
            stdout = str(observed.get("stdout", ""))
            if stdout.endswith("...[cut]"):
                raise ApplyFailed(f"the check printed more than {MAX_STDOUT} characters; "
                                  "that cannot be expected")
            expect["stdout"] = stdout
        attributes["expect"] = expect
        return attributes
