"""Running the ```console blocks of the documentation, and masking what changes between runs.

A console block is a transcript: lines starting with `$ ` are commands (a line ending with
`\\` continues on the next; a here-document runs until its end marker), and the lines after a
command, up to the next command, are what it prints (stdout and stderr together). The blocks
of one file run in order, in one fresh directory with one fresh database, as the actor
`alice@laptop`.

Masking, applied to the documented and the printed output alike, so that a transcript stays
true from one run to the next (docs/en/README.md says the same):

| what | becomes |
|---|---|
| an ISO 8601 time (`2026-11-29T10:15:02.123456Z`) | `<time>` |
| a printed time (`2026-11-29 10:15:02`, `2026-11-29 10:15`) | `<time>` |
| a UUID | `<id>` |
| a short id (the first 8 hex digits of a UUID, as tables print them) | `<id>` |
| a 64-hex-digit digest | `<sha256>` |
| a duration (`71ms`, `1.2s`, `5m 23s`, `59m 59s`, `2h 0m`) | `<duration>` |
| the directory the block runs in | `$PWD` |

Columns that line up are compared with runs of spaces collapsed, since a masked value can be
wider or narrower than the value it hides.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = re.compile(r"^```console[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<sha256>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?"),
     "<time>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}\b"), "<id>"),
    (re.compile(r"\b\d+(?:d|h|m) \d+(?:h|m|s)\b"), "<duration>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)\b"), "<duration>"),
)


@dataclass
class Step:
    """One command of a transcript and the output the documentation shows for it."""

    command: str
    expected: list[str] = field(default_factory=list)
    line: int = 0


def blocks(text: str) -> Iterator[tuple[int, str]]:
    """Each console block's first line number and its text."""
    for match in BLOCK.finditer(text):
        yield text.count("\n", 0, match.start()) + 2, match.group(1)


def steps(text: str, first_line: int = 1) -> list[Step]:
    """The commands of one console block, each with the output shown after it."""
    found: list[Step] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.startswith("$ "):
            if found:
                found[-1].expected.append(line)
            index += 1
            continue
        command = [line[2:]]
        start = index
        while command[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            command.append(lines[index])
        heredoc = HEREDOC.search(" ".join(command))
        if heredoc:
            end = heredoc.group(1)
            while index + 1 < len(lines) and lines[index].strip() != end:
                index += 1
                command.append(lines[index])
        found.append(Step(command="\n".join(command), line=first_line + start))
        index += 1
    return found


def mask(text: str, workdir: Path | None = None) -> str:
    """The text with what changes between runs replaced (see the table above)."""
    if workdir is not None:
        text = text.replace(str(workdir), "$PWD")
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(re.sub(r" {2,}", "  ", line).rstrip() for line in text.splitlines()).strip()


def environment(workdir: Path, bin_dir: str) -> dict[str, str]:
    """What every transcript runs with: a fresh database, a fixed actor, no colour."""
    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR")
            if name in os.environ}
    return {**keep, "PATH": f"{bin_dir}:{keep.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "SLOTH_RUNNER_DB": str(workdir / "stacks.db"), "SLOTH_RUNNER_ACTOR": "alice@laptop",
            "NO_COLOR": "1", "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}


def run(step: Step, workdir: Path, env: dict[str, str], timeout: float = 120) -> str:
    """Run one command in bash, in the transcript's directory; stdout and stderr together."""
    done = subprocess.run(["bash", "-c", step.command], cwd=workdir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)
    return done.stdout
