"""The benchmark page's renderer: figures into the table the page shows, each section's text
around it, and the command line that picks what to write where."""

from __future__ import annotations

import importlib.util
import platform
import re
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/bench.py, which puts scripts/ on the path for the `benchmarks` package."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("bench_script", SCRIPTS / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def common(bench: ModuleType) -> ModuleType:
    return importlib.import_module("benchmarks.common")


@pytest.fixture
def markdown(bench: ModuleType) -> ModuleType:
    return importlib.import_module("benchmarks._markdown")


def test_a_figure_becomes_a_row_and_an_aim_not_met_says_so(common: ModuleType,
                                                           markdown: ModuleType) -> None:
    Figure = common.Figure
    rows = [
        Figure("(a) `stack list`", common.ms(0.1484), "typer one-command app: 126 ms", 1.1746,
               "<= 1.3x", True),
        Figure("(b) `run`", "242 ms", "typer one-command app: 121 ms", 2.0, "<= 1.6x", False),
        Figure("(c) saved", "160 ms", "the same | more: 250 ms", "saves 90 ms"),
        Figure("(d) alone", common.rate(3119.4)),
    ]
    assert markdown.table(rows).splitlines() == [
        "| figure | ours | baseline | ratio | aim |",
        "|---|---|---|---|---|",
        "| (a) `stack list` | 148 ms | typer one-command app: 126 ms | 1.17x | <= 1.3x |",
        "| (b) `run` | 242 ms | typer one-command app: 121 ms | 2.00x | <= 1.6x (**not met**) |",
        "| (c) saved | 160 ms | the same \\| more: 250 ms | saves 90 ms | — |",
        "| (d) alone | 3,119 /s | — | — | — |",
    ]


def test_an_aim_comes_with_whether_it_is_met(common: ModuleType) -> None:
    with pytest.raises(ValueError, match="go together"):
        common.Figure("x", "1 ms", aim="<= 2 ms")
    with pytest.raises(ValueError, match="go together"):
        common.Figure("x", "1 ms", met=True)


def test_figures_reported_in_a_section_are_kept_for_its_table(
        common: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    measured = common.begin("locks")
    common.figure(common.Figure("cycles", "686 /s", aim=">= 0.25x", met=False))
    common.environment("PostgreSQL 15.4")
    common.environment("PostgreSQL 15.4")
    assert [f.name for f in measured.figures] == ["cycles"]
    assert measured.environment == ["PostgreSQL 15.4"]
    assert "ours: 686 /s" in capsys.readouterr().out
    assert common.begin("core").figures == []


def test_a_section_is_its_text_with_the_measured_line_and_table_put_in(
        common: ModuleType, markdown: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "_intro.md").write_text("# Benchmarks\n\nWhat the page is.\n")
    (tmp_path / "core.md").write_text("$measured\nOne more sentence.\n\n$table\n\n"
                                      "Reading them: why.\n")
    core = common.Measured("core", [common.Figure("(a) list", "148 ms")], ["Terraform 0.11.11"],
                           load=1.25)
    plain = common.Measured("locks", [common.Figure("cycles", "686 /s")])
    page = markdown.document([core, plain], date="2026-11-29", command="scripts/bench core locks",
                             on="a 2-core x86_64 Linux machine", directory=tmp_path)
    python = platform.python_version()
    assert page.startswith("# Benchmarks\n\nWhat the page is.\n\n## core\n\nMeasured 2026-11-29 in "
                           "one `scripts/bench core locks` run on a 2-core x86_64 Linux machine")
    sections = page.split("\n## ")
    assert [s.splitlines()[0] for s in sections[1:]] == ["core", "locks"]
    core_text = " ".join(sections[1].split())
    assert re.search(rf"\(Python {re.escape(python)}, SQLite [0-9.]+, Terraform 0\.11\.11; load "
                     r"average 1\.2 when the section started\)\. One more sentence\.", core_text)
    assert "| (a) list | 148 ms | — | — | — |\n\nReading them: why.\n" in sections[1]
    # A section without a text of its own: the measured line, then the table.
    assert re.fullmatch(r"locks\n\nMeasured [^|]+\.\n\n\| figure .*\| cycles \| 686 /s \| — \| — \| — \|\n",
                        sections[2], re.DOTALL)
    assert all(len(line) <= markdown.WIDTH for line in page.splitlines()
               if not line.startswith("|"))


def test_every_section_has_a_text_that_fills_in(bench: ModuleType, common: ModuleType,
                                                markdown: ModuleType) -> None:
    names = bench.sections()
    assert {"core", "locks", "postgres", "web"} <= set(names)
    for name in names:
        template = SCRIPTS / "benchmarks" / f"{name}.md"
        if template.exists():
            text = template.read_text()
            assert "$measured" in text and "$table" in text, name
        rendered = markdown.section(common.Measured(name, [common.Figure("f", "1 ms")]),
                                    date="2026-11-29", command="scripts/bench", on="a machine")
        assert rendered.startswith(f"## {name}\n\nMeasured 2026-11-29") and "| f | 1 ms |" in rendered


def test_markdown_names_a_file_or_takes_the_default(bench: ModuleType) -> None:
    written = bench.arguments(["--markdown", "out.md", "--quick", "workflow"])
    assert (written.markdown, written.sections, written.quick) == ("out.md", ["workflow"], True)
    # `--markdown core`: core is the section to run, and the page is the default file.
    default = bench.arguments(["--markdown", "core", "locks"])
    assert (default.markdown, default.sections) == (str(bench.DOCUMENT), ["core", "locks"])
    assert bench.DOCUMENT.parts[-3:] == ("docs", "en", "benchmarks.md")
    assert bench.arguments(["core"]).markdown is None
    with pytest.raises(SystemExit):
        bench.arguments(["--markdown", "out.md", "nosuch"])
