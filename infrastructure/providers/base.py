"""What a resource type is: a pydantic spec for its attributes, and how to read and apply it.

This is the interface third-party types implement (see docs/en/resources-and-drift.md):
subclass `ResourceType`, set `spec`, implement the four methods, and register the class
under the `sloth_runner.resource_types` entry-point group.
"""

from __future__ import annotations

import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator

SpecT = TypeVar("SpecT", bound=BaseModel)


class ProbeFailed(Exception):
    """The real world could not be read; the message says why (the resource is `unknown`)."""


class ApplyFailed(Exception):
    """The real world could not be changed; the message says why."""


class ResourceType(ABC, Generic[SpecT]):
    """A kind of resource: `read` observes it, `apply` makes it match its spec.

    `expected` and `read` return the same keys for a resource in its desired state; drift is
    every key of `expected` whose observed value differs (an `ensure` mismatch alone when
    the resource should exist and does not, or the other way round).
    """

    spec: ClassVar[type[BaseModel]]
    """Validates the attributes (everything in a declaration but name, type, depends_on)."""
    record_only: ClassVar[bool] = False
    """Its resources record what another tool manages: drift never observes or repairs them."""

    parallel_reads: ClassVar[bool] = False
    """Reads wait on something outside this process (a command, the network): several may
    run side by side, from threads. Such a type's methods must be safe to call that way."""

    @abstractmethod
    def expected(self, spec: SpecT) -> dict[str, Any]:
        """The observable attributes the spec asks for."""

    @abstractmethod
    def read(self, spec: SpecT) -> dict[str, Any]:
        """Observe the real world; raise ProbeFailed when it cannot be read."""

    @abstractmethod
    def apply(self, spec: SpecT) -> None:
        """Make the real world match the spec; raise ApplyFailed when it cannot."""

    @abstractmethod
    def adopt(self, spec: SpecT, observed: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes whose desired state is what was observed (for `drift fix --accept`)."""


class RecordOnlyType(ResourceType[SpecT]):
    """A type whose resources are records (Terraform's state, imports): validated, never
    observed, never applied. Drift leaves them out before a provider would be asked."""

    record_only: ClassVar[bool] = True

    def expected(self, spec: SpecT) -> dict[str, Any]:
        raise ProbeFailed("a record is not observed")

    def read(self, spec: SpecT) -> dict[str, Any]:
        raise ProbeFailed("a record is not observed")

    def apply(self, spec: SpecT) -> None:
        raise ApplyFailed("a record is changed by the tool that manages it, not by a fix")

    def adopt(self, spec: SpecT, observed: Mapping[str, Any]) -> dict[str, Any]:
        raise ApplyFailed("a record is changed by the tool that manages it, not by a fix")


def os_reason(error: OSError, doing: str) -> str:
    """`cannot read /srv/motd: Permission denied` from an OSError."""
    target = f" {error.filename}" if error.filename is not None else ""
    return f"cannot {doing}{target}: {error.strerror or error}"


def _absolute(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not os.path.isabs(value):
        raise ValueError(f"'{value}' is not an absolute path (paths are used as given: "
                         "no ~ or $VARIABLE expansion)")
    return value


AbsolutePath = Annotated[str, AfterValidator(_absolute)]
_MODE = re.compile(r"[0-7]{3,4}")


def _mode(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"invalid mode {value!r}: write it as a quoted octal string, e.g. "
                         "\"0644\" (YAML reads an unquoted 0644 as the number 420)")
    if not _MODE.fullmatch(value):
        raise ValueError(f"invalid mode '{value}': expected 3 or 4 octal digits, e.g. \"0644\"")
    return f"{int(value, 8):04o}"


Mode = Annotated[str, BeforeValidator(_mode)]
"""A permission mode as an octal string, stored as four digits ("0644")."""


def mode_text(st_mode: int) -> str:
    """The permission bits of a stat result as four octal digits."""
    return f"{stat.S_IMODE(st_mode):04o}"
