"""Write the real output of a document's ```console transcripts into the document.

    .venv/bin/python -m tests.docs.fill docs/en/getting-started.md [...]

Runs the commands of each console block in order, exactly as the documentation test does
(one fresh directory and database per document, actor `alice@laptop`), and replaces what
the document shows after each command with what it printed. The directory the transcript
ran in is written as `$PWD`. Review the diff before committing: the output is the product's,
the prose around it is yours.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.docs.consoles import BLOCK, environment, run, steps


def fill(document: Path) -> None:
    """Rewrite the console blocks of one document with what their commands print."""
    text = document.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="sloth-docs-") as directory:
        workdir = Path(directory)
        env = environment(workdir, str(Path(sys.executable).parent))

        def rewrite(match: object) -> str:
            body = match.group(1)  # type: ignore[attr-defined]
            lines: list[str] = []
            for step in steps(body):
                printed = run(step, workdir, env).replace(str(workdir), "$PWD")
                lines.extend(f"$ {line}" if number == 0 else line
                             for number, line in enumerate(step.command.splitlines()))
                lines.extend(line.rstrip() for line in printed.rstrip("\n").splitlines())
            return "```console\n" + "\n".join(lines) + "\n```"

        text = BLOCK.sub(rewrite, text)
    document.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        fill(Path(name))
        print(f"filled {name}")
