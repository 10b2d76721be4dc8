"""A progress bar on stderr for long walks, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time

WIDTH = 30
INTERVAL = 0.1
"""Seconds between two redraws at most."""


class ProgressBar:
    """`bar(done)` redraws `label [####....] 42% (4,200 of 10,000)`; `close()` clears it."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self._drawn = 0.0
        self._shown = False

    def __call__(self, done: int) -> None:
        moment = time.monotonic()
        if moment - self._drawn < INTERVAL:
            return
        self._drawn = moment
        share = min(done / self.total, 1.0)
        filled = int(share * WIDTH)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                         f"{share:4.0%} ({done:,} of {self.total:,})")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def progress_bar(label: str, total: int, *, json: bool) -> ProgressBar | None:
    """A bar when stderr is a terminal and the output is not JSON; None otherwise."""
    if json or not sys.stderr.isatty():
        return None
    return ProgressBar(label, total)
