"""The CLI documents itself: examples in --help, shell completion, and a reference that
names every command and option there is, and nothing else."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from cli.help import EXAMPLES
from cli.main import app
from tests.conftest import SCRIPT, CliRun

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "en" / "stack-state-cli-reference.md"


def commands() -> Iterator[tuple[str, Any]]:
    """Every command and group of the app, by path (the root is the empty path)."""
    root = typer.main.get_command(app)
    context = root.make_context("sloth-runner", [], resilient_parsing=True)

    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        yield " ".join(path), command
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                yield from walk(command.get_command(context, name), [*path, name])

    yield from walk(root, [])


ALL = dict(commands())
LEAVES = {path: command for path, command in ALL.items()
          if not hasattr(command, "list_commands")}


def options(command: Any) -> set[str]:
    found = set()
    for param in command.params:
        if param.param_type_name == "option":
            found.update(opt for opt in [*param.opts, *param.secondary_opts]
                         if opt.startswith("--"))
    return found


def test_every_command_has_an_example_and_no_example_is_stale() -> None:
    assert set(EXAMPLES) == set(ALL)


@pytest.mark.parametrize("path", sorted(ALL))
def test_help_shows_the_example_and_no_type_after_a_flag(cli: CliRun, path: str) -> None:
    result = cli(*path.split(), "--help")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Example: " in text
    assert " ".join(EXAMPLES[path].split()) in text
    assert "<bool>" not in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(cli: CliRun, shell: str) -> None:
    result = cli("completion", shell)
    assert result.exit_code == 0, result.stderr
    assert "_SLOTH_RUNNER_COMPLETE" in result.stdout


def test_completion_of_an_unknown_shell_is_refused(cli: CliRun) -> None:
    result = cli("completion", "tcsh")
    assert result.exit_code == 2
    assert "bash, zsh or fish" in result.stderr


def test_bash_completes_commands_in_a_real_shell(tmp_path: Path) -> None:
    script = subprocess.run([SCRIPT, "completion", "bash"], capture_output=True, text=True,
                            check=True).stdout
    (tmp_path / "complete.bash").write_text(script)
    probe = (f"source {tmp_path / 'complete.bash'}; COMP_WORDS=(sloth-runner stack lock ac); "
             "COMP_CWORD=3; _sloth_runner_completion sloth-runner; echo \"${COMPREPLY[@]}\"")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True,
                          env={"PATH": str(Path(SCRIPT).parent) + ":/usr/bin:/bin"})
    assert done.stdout.split() == ["acquire"]


def reference_sections() -> dict[str, str]:
    """Each command path the reference has a heading for, with the text of its section."""
    text = REFERENCE.read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    pieces = re.split(r"^### ", text, flags=re.M)
    for piece in pieces[1:]:
        heading, _, body = piece.partition("\n")
        for command in re.findall(r"`([^`]+)`", heading):
            words = []
            for word in command.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            path = " ".join(words)
            if path in ALL:
                sections[path] = sections.get(path, "") + heading + "\n" + body
    return sections


def test_the_reference_documents_every_command_and_option() -> None:
    sections = reference_sections()
    missing = [path for path in LEAVES if path not in sections]
    assert missing == []
    unmentioned = [(path, option) for path, command in LEAVES.items()
                   for option in sorted(options(command) - {"--help"})
                   if option not in sections[path]]
    assert unmentioned == []


def test_the_reference_names_no_option_that_does_not_exist() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    known = set().union(*(options(command) for command in ALL.values())) | {"--help"}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))
    assert sorted(named - known) == []
    sections = reference_sections()
    for heading in re.findall(r"^### (.*)$", text, flags=re.M):
        for command in re.findall(r"`([^`]+)`", heading):
            first = command.split()[0]
            if re.fullmatch(r"[a-z][a-z-]*", first) and first in {p.split()[0] for p in ALL if p}:
                words = []
                for word in command.split():
                    if not re.fullmatch(r"[a-z][a-z-]*", word):
                        break
                    words.append(word)
                assert " ".join(words) in sections, heading
