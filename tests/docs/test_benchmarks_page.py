"""`scripts/bench --markdown` writes the benchmark page from one run: the table of figures
and the text that explains them."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_one_quick_section_is_written_with_its_table_and_text(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    done = subprocess.run([str(ROOT / "scripts" / "bench"), "--markdown", str(page), "--quick",
                           "workflow"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n")
    assert text.count("\n## ") == 1 and "\n## workflow\n\n" in text
    flat = " ".join(text.split())
    assert (f"Measured {date.today().isoformat()} in one `scripts/bench workflow --quick` run on "
            in flat)
    assert "| figure | ours | baseline | ratio | aim |\n|---|---|---|---|---|\n" in text
    rows = [line for line in text.splitlines() if line.startswith("| (")]
    assert [row.split(" ")[1] for row in rows] == ["(a)", "(a')", "(b)", "(b')", "(c)"]
    assert all(row.endswith(" |") and row.count(" | ") == 4 for row in rows)
    assert "a 10,000,000-step Lua loop in the sandbox (deadline hook)" in rows[-1]
    reading = (ROOT / "scripts" / "benchmarks" / "workflow.md").read_text().split("$table")[1]
    assert reading.strip() and reading.strip() in text
    assert f"wrote {page}" in done.stdout


def test_the_page_starts_with_the_intro_it_is_regenerated_with() -> None:
    intro = (ROOT / "scripts" / "benchmarks" / "_intro.md").read_text(encoding="utf-8").strip()
    page = (ROOT / "docs" / "en" / "benchmarks.md").read_text(encoding="utf-8")
    assert page.startswith(intro + "\n\n## ")
