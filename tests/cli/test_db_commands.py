"""`sloth-runner db init|status|copy`, choosing the database, and a server that cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tests.conftest import SCRIPT, CliRun, Database, database_args, event_count, read_model_dump
from tests.support.postgres import PASSWORD, free_port


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def on(db: Database, *args: str) -> Result:
    """Run a command against a database named as the user would name it."""
    result = run(*database_args(db), *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def history(db: Database) -> None:
    """Stacks, values, locks, snapshots, dependencies, and one long stream (so that the
    event store has taken library snapshots of it)."""
    on(db, "stack", "create", "base")
    on(db, "stack", "create", "app", "--depends-on", "base", "--description", "the app")
    lock_id = json.loads(on(db, "stack", "lock", "acquire", "app", "--json").stdout)[
        "lock"]["lock_id"]
    on(db, "stack", "state", "set", "app", "region=eu", "replicas:=3", "--lock-id", lock_id)
    on(db, "stack", "snapshot", "create", "app", "--lock-id", lock_id)
    on(db, "stack", "lock", "release", "app")
    for i in range(105):
        on(db, "stack", "state", "set", "base", f"counter:={i}")
    on(db, "stack", "destroy", "app", "--yes")


# ---- init and status ----------------------------------------------------------------------------


def test_init_then_status(cli: CliRun, db_path: Database, backend: str) -> None:
    done = cli("db", "init")
    assert done.exit_code == 0, done.stderr
    assert "is ready (schema" in done.stdout
    assert event_count(db_path) == 0
    cli("stack", "create", "app")
    cli("stack", "state", "set", "app", "a=1")
    status = json.loads(cli("db", "status", "--json").stdout)
    assert status["backend"] == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    assert (status["events"], status["head"], status["lag"]) == (2, 2, 0)
    from projections.schema import SCHEMA_VERSION

    assert status["schema_version"] == SCHEMA_VERSION
    human = cli("db", "status").stdout
    assert PASSWORD not in human and PASSWORD not in status["location"]
    if backend == "postgres":
        assert status["location"] == str(db_path).rsplit("@", 1)[1]  # host:port/db
    else:
        assert status["location"] == str(db_path)


def test_status_reports_the_lag_it_does_not_catch_up(cli: CliRun, db_path: Database) -> None:
    from infrastructure.runtime import Runtime
    from tests.conftest import invocation, settings

    cli("stack", "create", "app")
    writer = Runtime(settings(db_path))
    try:
        from commands.models import SetValues

        writer.service().set_values(SetValues(stack="app", values={"a": 1}), invocation())
    finally:
        writer.close()
    assert json.loads(cli("db", "status", "--json").stdout)["lag"] == 1
    cli("stack", "list")
    assert json.loads(cli("db", "status", "--json").stdout)["lag"] == 0


# ---- choosing the database ----------------------------------------------------------------------


def test_a_url_given_to_db_is_refused_with_the_right_option(tmp_path: Path) -> None:
    result = run("--db", f"postgresql://u:{PASSWORD}@h/db", "stack", "list")
    assert result.exit_code == 2
    assert "--db takes a file; give the PostgreSQL URL 'postgresql://u:***@h/db' with" \
           " --database-url" in result.stderr
    assert PASSWORD not in result.stderr


def test_a_file_and_a_url_at_once_are_refused(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "x.db"), "--database-url", "postgresql://h/db",
                 "stack", "list")
    assert result.exit_code == 2
    assert "both --db and --database-url name a database" in result.stderr
    env = {"SLOTH_RUNNER_DB": str(tmp_path / "x.db"),
           "SLOTH_RUNNER_DATABASE_URL": "postgresql://h/db"}
    both = run("stack", "list", env=env)
    assert both.exit_code == 2
    assert "both SLOTH_RUNNER_DB and SLOTH_RUNNER_DATABASE_URL" in both.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("url", ["postgresql://h:99999/db", "mysql://h/db",
                                 "postgresql://h1,h2/db"])
def test_a_malformed_url_is_a_usage_error(url: str) -> None:
    result = run("--database-url", url, "stack", "list")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1


def test_the_config_file_names_a_postgresql_database(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  database_url: postgresql://u@h:99999/db\n")
    result = run("--config", str(config), "stack", "list")
    assert result.exit_code == 2
    assert "stacks.database_url: the URL: port '99999' is not a port number" in result.stderr
    config.write_text(f"stacks:\n  database_path: {tmp_path / 'a.db'}\n"
                      "  database_url: postgresql://u@h/db\n")
    result = run("--config", str(config), "stack", "list")
    assert result.exit_code == 2
    assert "database_path (SQLite) or database_url (PostgreSQL), not both" in result.stderr


@pytest.mark.postgres
def test_url_from_environment_or_config_and_a_flag_beats_both(
        postgres_url: str, tmp_path: Path) -> None:
    on(postgres_url, "stack", "create", "in-postgres")
    by_env = run("stack", "list", "--json", env={"SLOTH_RUNNER_DATABASE_URL": postgres_url})
    assert [s["name"] for s in json.loads(by_env.stdout)["stacks"]] == ["in-postgres"]
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  database_url: {postgres_url}\n")
    by_config = run("--config", str(config), "stack", "list", "--json")
    assert [s["name"] for s in json.loads(by_config.stdout)["stacks"]] == ["in-postgres"]
    by_flag = run("--db", str(tmp_path / "file.db"), "stack", "list", "--json",
                  env={"SLOTH_RUNNER_DATABASE_URL": postgres_url})
    assert json.loads(by_flag.stdout)["stacks"] == []


def test_without_the_postgres_extra_a_url_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "infrastructure.postgres_connection", raising=False)
    result = run("--database-url", "postgresql://u@127.0.0.1/db", "stack", "list")
    assert result.exit_code == 2
    assert result.stderr == ("error: PostgreSQL needs the postgres extra (psycopg 3): "
                             "pip install 'sloth-runner[postgres]'\n")


# ---- a server that cannot be reached ------------------------------------------------------------


@pytest.mark.parametrize("command", [("stack", "list"), ("stack", "create", "app"),
                                     ("db", "status"), ("events", "export")],
                         ids=" ".join)
def test_an_unreachable_server_is_exit_75_in_one_line(command: tuple[str, ...]) -> None:
    port = free_port()
    environment = {**os.environ,
                   "SLOTH_RUNNER_DATABASE_URL": f"postgresql://deploy:{PASSWORD}@127.0.0.1:{port}"
                                                "/stacks"}
    result = subprocess.run([SCRIPT, *command], capture_output=True, text=True, env=environment,
                            timeout=60, check=False)
    assert result.returncode == 75
    assert result.stderr == (f"error: cannot reach PostgreSQL at 127.0.0.1:{port}/stacks:"
                             " Connection refused\n")
    assert result.stdout == ""
    as_json = subprocess.run([SCRIPT, "--json", *command], capture_output=True, text=True,
                             env=environment, timeout=60, check=False)
    assert as_json.returncode == 75
    error = json.loads(as_json.stderr)["error"]
    assert (error["code"], error["exit_code"]) == ("unavailable", 75)
    assert PASSWORD not in as_json.stderr


# ---- copy ---------------------------------------------------------------------------------------


def export(db: Database) -> str:
    return on(db, "events", "export").stdout


@pytest.mark.postgres
@pytest.mark.slow
def test_copy_sqlite_to_postgresql_and_back_keeps_every_event(
        postgres_url: str, tmp_path: Path) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    history(first)
    to_postgres = on(first, "db", "copy", "--to", postgres_url, "--json")
    copied = json.loads(to_postgres.stdout)
    assert copied["events"] == event_count(first) == event_count(postgres_url)
    assert copied["snapshots"] >= 1  # the long stream's library snapshot came along
    assert copied["rebuilt"] == copied["events"]
    assert PASSWORD not in to_postgres.stdout
    assert export(postgres_url) == export(first)
    back = json.loads(on(postgres_url, "db", "copy", "--to", str(second), "--json").stdout)
    assert back["digest"] == copied["digest"]
    assert export(second) == export(first)
    assert read_model_dump(second) == read_model_dump(first)
    # Both copies go on from the same position.
    for db in (postgres_url, second):
        created = json.loads(on(db, "stack", "create", "later", "--json").stdout)
        assert created["version"] == 1
        assert json.loads(on(db, "events", "list", "-n", "1", "--json").stdout)[
            "events"][0]["id"] == copied["last_position"] + 1


def test_copy_between_two_files_names_both_and_verifies(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    on(source, "stack", "create", "app")
    on(source, "stack", "state", "set", "app", "a=1")
    result = on(source, "db", "copy", "--to", str(target))
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"✓ Copied 2 events from SQLite {source} to SQLite {target}")
    assert lines[1].startswith("  verified: 2 events, sha256:")
    assert export(target) == export(source)
    from_flag = on(tmp_path / "elsewhere.db", "db", "copy", "--from", str(source), "--to",
                   str(tmp_path / "third.db"))
    assert "Copied 2 events" in from_flag.stdout
    assert export(tmp_path / "third.db") == export(source)


def test_copy_refuses_a_target_that_holds_events(tmp_path: Path) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    on(source, "stack", "create", "app")
    on(target, "stack", "create", "other")
    before = export(target)
    result = run("--db", str(source), "db", "copy", "--to", str(target))
    assert result.exit_code == 5
    assert result.stderr == f"error: SQLite {target} already holds 1 event; copy into an" \
                            " empty database\n"
    assert export(target) == before


def test_copy_from_a_missing_file_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    result = run("db", "copy", "--from", str(tmp_path / "typo.db"), "--to",
                 str(tmp_path / "target.db"))
    assert result.exit_code == 2
    assert "no such database file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_a_copy_that_does_not_read_back_the_same_keeps_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infrastructure import logcopy

    source, target = tmp_path / "source.db", tmp_path / "target.db"
    on(source, "stack", "create", "app")
    monkeypatch.setattr(logcopy, "_read_back", lambda cursor, connection: logcopy.LogDigest())
    result = run("--db", str(source), "db", "copy", "--to", str(target))
    assert result.exit_code == 1
    assert "the copy read back differs from the source (0 events" in result.stderr
    assert "nothing was kept" in result.stderr
    assert event_count(target) == 0


def test_a_large_copy_shows_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.db
    from infrastructure import logcopy

    source = tmp_path / "source.db"
    on(source, "stack", "create", "app")
    for i in range(9):
        on(source, "stack", "state", "set", "app", f"k={i}")
    monkeypatch.setattr(cli.db, "PROGRESS_FROM", 5)
    monkeypatch.setattr(logcopy, "BATCH", 2)
    result = run("--db", str(source), "db", "copy", "--to", str(tmp_path / "a.db"))
    assert result.exit_code == 0
    progress = result.stderr.splitlines()
    assert progress[0].startswith("copying events: 2 of 10 (20%)")
    assert progress[-1] == "copying events: 10 of 10 (100%)"
    quiet = run("--db", str(source), "db", "copy", "--to", str(tmp_path / "b.db"), "--json")
    assert quiet.stderr == ""
