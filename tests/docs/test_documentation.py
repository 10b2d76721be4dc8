"""Every ```console transcript in the documentation runs, and prints what it shows."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

from tests.docs.consoles import Step, blocks, environment, mask, run, steps

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
TRANSCRIPTS = [path for path in DOCUMENTS if "```console" in path.read_text(encoding="utf-8")]


def test_the_masking_hides_what_changes_between_runs() -> None:
    printed = ("Lock ID: 0f0c7a33-93c4-4d8e-9a41-4a0fb7d0bd2e at 2026-11-29 10:15:02 (in 59m 59s)\n"
               "7c39129d  release  completed  2026-11-29 02:37:46  28ms      3/3")
    assert mask(printed) == ("Lock ID: <id> at <time> (in <duration>)\n"
                             "<id>  release  completed  <time>  <duration>  3/3")
    assert mask("v2.0.0 deployed at 2026-11-29T02:37:46.123456Z") == (
        "v2.0.0 deployed at <time>")


def test_a_transcript_is_split_into_commands_and_what_they_print() -> None:
    text = ("$ sloth-runner stack create app\n✓ Stack 'app' created\n"
            "$ cat > a.txt <<'EOF'\nline\nEOF\n$ sloth-runner stack list \\\n  --all\nWorkflow Stacks\n")
    found = steps(text)
    assert [step.command for step in found] == [
        "sloth-runner stack create app", "cat > a.txt <<'EOF'\nline\nEOF",
        "sloth-runner stack list \\\n  --all"]
    assert [step.expected for step in found] == [["✓ Stack 'app' created"], [],
                                                 ["Workflow Stacks"]]


@pytest.mark.slow
@pytest.mark.parametrize("document", TRANSCRIPTS, ids=[str(p.relative_to(ROOT)) for p in TRANSCRIPTS])
def test_each_transcript_prints_what_the_documentation_shows(document: Path,
                                                             tmp_path: Path) -> None:
    env = environment(tmp_path, str(Path(sys.executable).parent))
    failures = []
    for first_line, block in blocks(document.read_text(encoding="utf-8")):
        for step in steps(block, first_line):
            printed = run(step, tmp_path, env)
            if mask("\n".join(step.expected), tmp_path) != mask(printed, tmp_path):
                failures.append(_diff(document, step, printed, tmp_path))
    assert not failures, "\n\n".join(failures)


def _diff(document: Path, step: Step, printed: str, workdir: Path) -> str:
    lines = difflib.unified_diff(mask("\n".join(step.expected), workdir).splitlines(),
                                 mask(printed, workdir).splitlines(),
                                 "documented", "printed", lineterm="")
    return (f"{document.relative_to(ROOT)}:{step.line}: $ {step.command}\n" + "\n".join(lines))
