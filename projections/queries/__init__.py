"""Queries over the read models, returning typed read records (never aggregates).

One module per read model. These modules are on the start-up path of every read command:
they import no pydantic, no eventsourcing and no domain events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

IN_CHUNK = 500
"""How many values one `IN (...)` query is given at a time (SQLite takes a bounded number)."""


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[tuple[Sequence[T], str]]:
    """The values in chunks, each with its `?, ?, ...` placeholders."""
    for start in range(0, len(values), size):
        chunk = values[start:start + size]
        yield chunk, ", ".join("?" * len(chunk))


class Record:
    """A row of a read model as a query returns it; subclasses are frozen dataclasses."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record's fields by name, as `--json` prints them."""
        return {name: getattr(self, name) for name in self.__match_args__}
