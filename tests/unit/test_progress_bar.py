"""The verify progress bar: drawn on stderr only when it is a terminal and not under --json."""

from __future__ import annotations

import io

import pytest

from cli import progress
from cli.progress import ProgressBar, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_only_on_a_terminal_and_never_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress_bar("verifying", 10, json=False) is None
    monkeypatch.setattr("sys.stderr", Terminal())
    assert progress_bar("verifying", 10, json=True) is None
    assert isinstance(progress_bar("verifying", 10, json=False), ProgressBar)


def test_the_bar_draws_its_share_and_clears_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    bar = ProgressBar("verifying", 10_000)
    bar(2_500)
    assert screen.getvalue() == ("\rverifying [#######.......................]  25% "
                                 "(2,500 of 10,000)")
    bar.close()
    assert screen.getvalue().endswith("\r\033[K")
