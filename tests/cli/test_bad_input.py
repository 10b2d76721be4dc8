"""Bad input: one clear line on stderr, the documented exit code, nothing appended."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import CliRun, Database, ProcRun, event_count


def assert_refused(result: object, code: int, db_path: Database, before: int, *, fragment: str = "") -> None:
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    stderr = result.stderr  # type: ignore[attr-defined]
    assert exit_code == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    assert fragment in lines[0]
    assert event_count(db_path) == before


@pytest.mark.parametrize("name", ["", "x" * 256, "has space", "../x", "a\x01b", "-lead"])
def test_invalid_stack_names(cli: CliRun, db_path: Database, name: str) -> None:
    cli("stack", "create", "ok")
    before = event_count(db_path)
    assert_refused(cli("stack", "create", "--", name), 2, db_path, before,
                   fragment="invalid stack name")
    assert_refused(cli("stack", "state", "set", "--", name, "a=1"), 2, db_path, before)


def test_leading_dash_through_the_real_parser(proc: ProcRun, db_path: Database) -> None:
    assert_refused(proc("stack", "create", "-lead"), 2, db_path, 0, fragment="No such option")


def test_unknown_stack_is_not_found(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "ok")
    before = event_count(db_path)
    for args in (("stack", "show", "nope"), ("stack", "state", "set", "nope", "a=1"),
                 ("stack", "state", "get", "nope", "a"), ("stack", "output", "nope"),
                 ("stack", "destroy", "nope", "--yes"), ("events", "list", "--stack", "nope")):
        assert_refused(cli(*args), 4, db_path, before, fragment="stack 'nope' not found")


def test_missing_key_is_not_found(cli: CliRun, db_path: Database) -> None:
    cli("stack", "create", "ok")
    before = event_count(db_path)
    assert_refused(cli("stack", "state", "get", "ok", "k"), 4, db_path, before)
    assert_refused(cli("stack", "state", "unset", "ok", "k"), 4, db_path, before)
    assert_refused(cli("stack", "output", "ok", "--unset", "k"), 4, db_path, before)


@pytest.mark.parametrize(("item", "fragment"), [
    ("novalue", "expected KEY=VALUE or KEY:=JSON"),
    ("k:={bad", "invalid JSON for 'k'"),
    ("bad key=1", "invalid state key"),
])
def test_bad_assignments(cli: CliRun, db_path: Database, item: str, fragment: str) -> None:
    cli("stack", "create", "ok")
    before = event_count(db_path)
    assert_refused(cli("stack", "state", "set", "ok", "a=1", item), 2, db_path, before,
                   fragment=fragment)
    assert_refused(cli("stack", "output", "ok", "--set", item), 2, db_path, before)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "fragment"), [
    ("stacks: [unclosed", "not valid YAML"),
    ("stacks:\n  auto_lok: true\n", "stacks.auto_lok: unknown key"),
    ("stacks:\n  lock_timeout: soon\n", "stacks.lock_timeout: invalid duration 'soon'"),
    ("stacks:\n  auto_lock: 3\n", "stacks.auto_lock"),
    ("stacks:\n  max_concurrent_executions: 0\n", "stacks.max_concurrent_executions"),
    ("stacks:\n  max_concurrent_executions: 10001\n", "stacks.max_concurrent_executions"),
    ("- just\n- a list\n", "expected a mapping"),
    # A setting is held to the bounds of the option it stands for (lock_timeout is --ttl).
    ("stacks:\n  lock_timeout: 999999999d\n",
     "stacks.lock_timeout: invalid duration '999999999d': must be at most"),
    ("stacks:\n  lock_timeout: 366d\n", "stacks.lock_timeout: a lease can last at most 365d"),
    ("stacks:\n  lock_timeout: 99999999999d\n", "stacks.lock_timeout: invalid duration '99999999999d'"),
    ("stacks:\n  lock_timeout: 0s\n", "stacks.lock_timeout: invalid duration '0s': must be greater"),
    ("stacks:\n  snapshot_retention: 999999999d\n",
     "stacks.snapshot_retention: invalid duration '999999999d': must be at most"),
    ("stacks:\n  auto_lock: true\n  lock_timeout: 1h\n  auto_lock: false\n",
     ":4: key 'auto_lock' appears twice in one mapping"),
    ("stacks: {}\nstacks: {auto_lock: true}\n", ":2: key 'stacks' appears twice"),
    ("stacks: 5\n", "stacks: expected a mapping of settings, got 5"),
    ("stacks: [auto_lock]\n", "stacks: expected a mapping of settings, got a list"),
])
def test_bad_config_files(cli: CliRun, tmp_path: Path, db_path: Database, text: str,
                          fragment: str) -> None:
    path = write_config(tmp_path, text)
    result = cli("--config", str(path), "stack", "create", "app")
    assert_refused(result, 2, db_path, 0, fragment=fragment)
    assert str(path) in result.stderr
    for internal in ("StacksSection", "ConfigFile", "pydantic", "errors.pydantic.dev"):
        assert internal not in result.stderr


def test_the_longest_lease_is_a_valid_lock_timeout(cli: CliRun, tmp_path: Path) -> None:
    path = write_config(tmp_path, "stacks:\n  lock_timeout: 365d\n  snapshot_retention: 36500d\n")
    assert cli("--config", str(path), "stack", "create", "app").exit_code == 0
    result = cli("--config", str(path), "--json", "stack", "lock", "acquire", "app")
    assert result.exit_code == 0, result.stderr


def test_an_empty_stacks_section_means_the_defaults(cli: CliRun, tmp_path: Path) -> None:
    path = write_config(tmp_path, "stacks:\n  # auto_lock: true\n")
    result = cli("--config", str(path), "stack", "create", "app")
    assert result.exit_code == 0, result.stderr


def test_config_error_names_the_line_of_bad_yaml(cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    path = write_config(tmp_path, "stacks:\n  auto_lock: true\n  x: [\n")
    assert_refused(cli("--config", str(path), "stack", "list"), 2, db_path, 0,
                   fragment=f"{path}:4: not valid YAML")


def test_missing_config_file(cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    result = cli("--config", str(tmp_path / "absent.yaml"), "stack", "list")
    assert_refused(result, 2, db_path, 0, fragment="does not exist")


@pytest.mark.sqlite_only(reason="where a database file may be created")
def test_database_in_a_directory_that_cannot_be_created(cli: CliRun, tmp_path: Path,
                                                        db_path: Database) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli("--db", str(blocker / "stacks.db"), "stack", "list")
    assert_refused(result, 2, db_path, 0, fragment=f"{blocker} is not a directory")
    result = CliRunner().invoke(app, ["stack", "list"],
                                env={"XDG_DATA_HOME": str(blocker / "data")})
    assert_refused(result, 2, db_path, 0, fragment="cannot create the database directory")


@pytest.mark.sqlite_only(reason="a file that is not a SQLite database")
def test_a_file_that_is_not_a_database(cli: CliRun, tmp_path: Path, db_path: Database) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are my notes, not a database\n" * 10)
    result = cli("--db", str(bogus), "stack", "create", "app")
    assert_refused(result, 2, db_path, 0, fragment="is not a SQLite database")
    assert bogus.read_text().startswith("these are my notes")


def test_internal_errors_hide_the_traceback_unless_debug(cli: CliRun, db_path: Database,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cli("stack", "create", "app")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("projections.queries.stacks.list_stacks", broken)
    plain = cli("stack", "list")
    assert plain.exit_code == 70
    assert "disk on fire" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = cli("--debug", "stack", "list")
    assert debug.exit_code == 70
    assert "Traceback" in debug.stderr


def test_database_files_are_private(tmp_path: Path) -> None:
    path = Path(os.environ["XDG_DATA_HOME"]) / "sloth-runner" / "stacks.db"
    assert CliRunner().invoke(app, ["stack", "list"]).exit_code == 0
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
    assert os.access(path, os.R_OK)


@pytest.mark.sqlite_only(reason="the database is a file path here")
@pytest.mark.parametrize("variable", ["SLOTH_RUNNER_DB", "SLOTH_RUNNER_CONFIG"])
def test_a_path_too_long_for_the_file_system_from_the_environment(proc: ProcRun, tmp_path: Path,
                                                                 variable: str) -> None:
    result = proc("stack", "list", env={variable: str(tmp_path / ("x" * 5000))})
    assert result.returncode == 2, result.stderr
    assert "too long" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
