"""Pausing Python's cyclic garbage collector while bulk work allocates many objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """Run the block without the cyclic collector (reference counting still frees memory).

    Building a graph or a batch of rows allocates hundreds of thousands of containers that
    form no reference cycles; every few hundred allocations the collector would walk the
    young objects again, and now and then the whole growing heap, for nothing: that made up
    about half the time of loading a large dependency graph. Nested pauses are harmless.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
