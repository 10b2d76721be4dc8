"""Queries over the read models, returning typed read records (never aggregates).

One module per read model. These modules are on the start-up path of every read command:
they import no pydantic, no eventsourcing and no domain events.
"""

from __future__ import annotations

from typing import Any


class Record:
    """A row of a read model as a query returns it; subclasses are frozen dataclasses."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record's fields by name, as `--json` prints them."""
        return {name: getattr(self, name) for name in self.__match_args__}
