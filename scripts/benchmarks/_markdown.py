"""docs/en/benchmarks.md from one run: the intro, then each section run under `## NAME`, its
text from `NAME.md` next to its module with the measured line and the table put in."""

from __future__ import annotations

import os
import platform
import sqlite3
import textwrap
from pathlib import Path
from string import Template

from benchmarks.common import Figure, Measured

HERE = Path(__file__).resolve().parent
HEADER = ("figure", "ours", "baseline", "ratio", "aim")
DEFAULT_TEMPLATE = "$measured\n\n$table\n"
WIDTH = 95
"""The width the page's prose is wrapped to (tables are not wrapped)."""


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table, one row each; `|` in a cell is escaped."""
    rows = [HEADER, *(figure.cells() for figure in figures)]
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(HEADER))
    return "\n".join(lines)


def machine() -> str:
    """The machine the run measured on, as the measured line describes it."""
    cores = os.cpu_count() or 1
    return f"a {cores}-core {platform.machine()} {platform.system()} machine"


def measured_line(section: Measured, *, date: str, command: str, on: str) -> str:
    versions = ", ".join([f"Python {platform.python_version()}",
                          f"SQLite {sqlite3.sqlite_version}", *section.environment])
    line = (f"Measured {date} in one `{command}` run on {on} ({versions}; load average "
            f"{section.load:.1f} when the section started).")
    return textwrap.fill(line, WIDTH, break_long_words=False, break_on_hyphens=False)


def template(name: str, directory: Path = HERE) -> Template:
    path = directory / f"{name}.md"
    return Template(path.read_text(encoding="utf-8") if path.is_file() else DEFAULT_TEMPLATE)


def section(measured: Measured, *, date: str, command: str, on: str,
            directory: Path = HERE) -> str:
    """`## NAME` and the section's text, its placeholders filled (a missing one fails)."""
    body = template(measured.name, directory).substitute(
        measured=measured_line(measured, date=date, command=command, on=on),
        table=table(measured.figures))
    return f"## {measured.name}\n\n{body.strip()}\n"


def document(sections: list[Measured], *, date: str, command: str, on: str | None = None,
             directory: Path = HERE) -> str:
    """The whole file: the intro (`_intro.md`), then each section in the order run."""
    intro = (directory / "_intro.md").read_text(encoding="utf-8").strip()
    parts = [intro, *(section(measured, date=date, command=command, on=on or machine(),
                              directory=directory) for measured in sections)]
    return "\n\n".join(part.strip() for part in parts) + "\n"
