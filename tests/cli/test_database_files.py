"""Database files through the real console script: whose they are, and files that cannot serve.

Every refusal is one line on stderr with exit code 2, and leaves the file as it was.
Permission cases run the tool as an unprivileged user (`nobody`, through setpriv) when the
tests run as root, since root ignores permission bits.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from commands.models import CreateStack
from infrastructure.runtime import Runtime
from infrastructure.settings import Settings
from tests.conftest import SCRIPT, ProcRun, event_count, invocation
from tests.fixtures.go_database import build_go_database
from tests.support.unprivileged import Unprivileged

pytestmark = pytest.mark.sqlite_only(
    reason="database files: their kinds, modes, owners, directories and side files")

SIDE_FILES = ("-journal", "-wal", "-shm")

Fingerprint = tuple[str, int, int, tuple[str, ...]]


def fingerprint(path: Path) -> Fingerprint:
    """The file's content hash, modification time and size, and what lies beside it."""
    info = path.stat()
    beside = tuple(sorted(p.name for p in path.parent.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, info.st_size, beside


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The single error line of a run that exited with 2."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def events_in(path: Path) -> int:
    """How many events the file holds, read without creating anything beside it."""
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


def no_side_files(path: Path) -> None:
    for suffix in SIDE_FILES:
        assert not Path(f"{path}{suffix}").exists(), f"{path}{suffix} was left behind"


# ---- databases that are not ours ----------------------------------------------------------

EVERY_KIND_OF_COMMAND = [
    ("stack", "list"),
    ("stack", "create", "intruder"),
    ("events", "list"),
    ("projections", "rebuild"),
    ("projections", "status"),
]


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
@pytest.mark.parametrize("command", EVERY_KIND_OF_COMMAND, ids=" ".join)
def test_the_go_tools_database_is_refused_unchanged(proc: ProcRun, db_path: Path,
                                                    command: tuple[str, ...], wal: bool) -> None:
    build_go_database(db_path, wal=wal)
    before = fingerprint(db_path)
    line = refused(proc(*command), str(db_path), "original Go sloth-runner",
                   f"`sloth-runner import go {db_path}` into a new database")
    assert "stacks" in line
    assert fingerprint(db_path) == before
    no_side_files(db_path)


def test_another_programs_database_is_refused_unchanged(proc: ProcRun, db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("CREATE TABLE stacks (id INTEGER PRIMARY KEY, height REAL)")
        connection.execute("CREATE TABLE pancakes (id INTEGER PRIMARY KEY)")
    before = fingerprint(db_path)
    refused(proc("stack", "create", "app"), "not a sloth-runner database", "pancakes, stacks",
            "--db")
    assert fingerprint(db_path) == before
    no_side_files(db_path)


def test_the_refusal_has_no_traceback_even_with_debug(proc: ProcRun, db_path: Path) -> None:
    build_go_database(db_path)
    result = proc("--debug", "stack", "list")
    refused(result)
    assert "Traceback" not in result.stderr


# ---- damaged and special files ------------------------------------------------------------

def test_a_damaged_database_says_how_to_recover(proc: ProcRun, db_path: Path) -> None:
    assert proc("stack", "create", "app").returncode == 0
    data = bytearray(db_path.read_bytes())
    data[100:] = bytes((i * 131 + 7) % 256 for i in range(len(data) - 100))
    db_path.write_bytes(bytes(data))
    before = fingerprint(db_path)
    refused(proc("stack", "list"), str(db_path), "malformed", "backup", ".recover")
    assert fingerprint(db_path) == before


def test_dev_null_is_refused_and_nothing_is_left_beside_it(proc: ProcRun, tmp_path: Path) -> None:
    link = tmp_path / "null.db"
    link.symlink_to(os.devnull)
    before = {name for name in os.listdir("/dev") if name.startswith("null")}
    refused(proc("stack", "create", "app", env={"SLOTH_RUNNER_DB": str(link)}),
            str(link), "not a regular file", "character device")
    assert {name for name in os.listdir("/dev") if name.startswith("null")} == before
    no_side_files(link)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "null.db"]


def test_a_fifo_is_refused_without_being_opened(proc: ProcRun, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    refused(proc("stack", "list", env={"SLOTH_RUNNER_DB": str(fifo)}, timeout=30),
            str(fifo), "not a regular file", "FIFO")
    no_side_files(fifo)


def test_a_directory_is_refused(proc: ProcRun, tmp_path: Path) -> None:
    directory = tmp_path / "dir.db"
    directory.mkdir()
    refused(proc("stack", "list", env={"SLOTH_RUNNER_DB": str(directory)}), str(directory),
            "a directory")
    assert list(directory.iterdir()) == []
    no_side_files(directory)


# ---- where a new database may be created --------------------------------------------------

@pytest.mark.parametrize("how", ["flag", "environment", "config"])
def test_a_named_database_in_a_missing_directory_is_refused(proc: ProcRun, tmp_path: Path,
                                                            how: str) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    path = missing / "stacks.db"
    config = tmp_path / "config.yaml"
    config.write_text(f"stacks:\n  database_path: {path}\n")
    args, env = {
        "flag": (["--db", str(path)], {}),
        "environment": ([], {"SLOTH_RUNNER_DB": str(path)}),
        "config": (["--config", str(config)], {"SLOTH_RUNNER_DB": ""}),
    }[how]
    refused(proc(*args, "stack", "create", "app", env=env), f"directory {missing} does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.slow
def test_processes_starting_on_one_new_file_at_once_all_use_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    environment = {**os.environ, "SLOTH_RUNNER_DB": str(path)}
    runs = [subprocess.Popen([SCRIPT, "stack", "create", f"s{i}"], env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(8)]
    outcomes = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs]
    for run in runs:
        for stream in (run.stdout, run.stderr):
            if stream is not None:
                stream.close()
    assert [code for code, _ in outcomes] == [0] * 8, outcomes
    assert events_in(path) == 8
    assert int.from_bytes(path.read_bytes()[68:72], "big") == 0x534C5448


def test_the_default_database_directory_is_created_private(proc: ProcRun, tmp_path: Path) -> None:
    data_home = tmp_path / "fresh" / "data"
    result = proc("stack", "create", "app",
                  env={"SLOTH_RUNNER_DB": "", "XDG_DATA_HOME": str(data_home)})
    assert result.returncode == 0, result.stderr
    path = data_home / "sloth-runner" / "stacks.db"
    assert event_count(path) == 1
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)


def test_an_empty_file_at_the_named_path_becomes_ours(proc: ProcRun, db_path: Path) -> None:
    db_path.touch()
    assert proc("stack", "create", "app").returncode == 0
    assert event_count(db_path) == 1


# ---- permissions: run as someone who may read but not write -------------------------------

def build_database(path: Path, *names: str, project: bool = True) -> Path:
    """A database of ours with the given stacks, every connection closed afterwards."""
    runtime = Runtime(Settings(db_path=path))
    try:
        runtime.connection()
        for name in names:
            runtime.service().create_stack(CreateStack(stack=name), invocation())
        if project:
            runtime.catch_up()
    finally:
        runtime.close()
    no_side_files(path)
    return path


def test_reads_work_on_a_database_the_user_may_only_read(unprivileged: Unprivileged) -> None:
    shared = unprivileged.root / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # the directory is writable: only the file is read-only
    db = build_database(shared / "stacks.db", "app")
    db.chmod(0o444)
    before = fingerprint(db)
    for command in (("stack", "list"), ("events", "list"), ("stack", "show", "app"),
                    ("stack", "show", "app", "--at-event", "1"), ("stack", "history", "app"),
                    ("projections", "status")):
        result = unprivileged(db, *command)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stderr == "", (command, result.stderr)
    assert "app" in unprivileged(db, "stack", "list").stdout
    assert fingerprint(db) == before
    no_side_files(db)


@pytest.mark.parametrize("command", [
    ("stack", "create", "other"),
    ("stack", "state", "set", "app", "replicas=3"),
    ("stack", "lock", "acquire", "app"),
    ("projections", "rebuild"),
], ids=" ".join)
def test_changes_to_a_read_only_database_are_refused(unprivileged: Unprivileged,
                                                     command: tuple[str, ...]) -> None:
    shared = unprivileged.root / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    db = build_database(shared / "stacks.db", "app")
    db.chmod(0o444)
    before = fingerprint(db)
    refused(unprivileged(db, *command), str(db), "read-only")
    assert fingerprint(db) == before
    assert events_in(db) == 1
    no_side_files(db)


def test_a_writable_file_in_a_read_only_directory_names_the_directory(
        unprivileged: Unprivileged) -> None:
    locked = unprivileged.root / "locked"
    locked.mkdir()
    db = build_database(locked / "stacks.db", "app")
    db.chmod(0o666)
    locked.chmod(0o555)
    before = fingerprint(db)
    refused(unprivileged(db, "stack", "create", "other"), f"directory {locked}", "-wal")
    listing = unprivileged(db, "stack", "list")
    assert listing.returncode == 0, listing.stderr
    assert "app" in listing.stdout
    assert fingerprint(db) == before


def test_a_new_database_in_a_read_only_directory_names_the_directory(
        unprivileged: Unprivileged) -> None:
    locked = unprivileged.root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    db = locked / "stacks.db"
    refused(unprivileged(db, "stack", "list"), f"directory {locked}", "not writable")
    assert not db.exists()


def test_read_models_behind_on_a_read_only_database_are_reported(
        unprivileged: Unprivileged) -> None:
    shared = unprivileged.root / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    db = build_database(shared / "stacks.db", "old")
    build_database(db, "new", project=False)  # an event the read models have not seen
    db.chmod(0o444)
    result = unprivileged(db, "stack", "list")
    assert result.returncode == 0, result.stderr
    assert "old" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: ")
    assert "behind by 1 event" in lines[0]
    assert "read-only" in lines[0]
    no_side_files(db)


def test_a_read_only_reader_sees_writes_still_in_the_write_ahead_log(
        unprivileged: Unprivileged) -> None:
    shared = unprivileged.root / "shared"
    shared.mkdir()
    shared.chmod(0o755)  # the reader can create nothing here
    db = build_database(shared / "stacks.db", "first")
    db.chmod(0o644)
    writer = Runtime(Settings(db_path=db))
    try:
        writer.service().create_stack(CreateStack(stack="second"), invocation())
        writer.catch_up()
        assert Path(f"{db}-wal").stat().st_size > 0  # not yet in the main file
        result = unprivileged(db, "stack", "list")
        assert result.returncode == 0, result.stderr
        assert "first" in result.stdout
        assert "second" in result.stdout
        assert result.stderr == ""
    finally:
        writer.close()
    no_side_files(db)


def test_a_point_in_time_copy_can_be_made_from_a_read_only_database(
        unprivileged: Unprivileged) -> None:
    shared = unprivileged.root / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    db = build_database(shared / "stacks.db", "app", "web")
    db.chmod(0o444)
    before = fingerprint(db)
    copy = shared / "copy.db"
    result = unprivileged(db, "projections", "rebuild", "--until-event", "1", "--into", str(copy))
    assert result.returncode == 0, result.stderr
    assert fingerprint(db)[:3] == before[:3]
    no_side_files(db)
    assert events_in(copy) == 1


def test_damage_found_in_the_middle_of_a_command_is_named(proc: ProcRun, db_path: Path) -> None:
    for number in range(30):
        assert proc("stack", "create", f"s{number}").returncode == 0
    size = db_path.stat().st_size
    with db_path.open("r+b") as file:  # pages near the end, past what opening the file reads
        file.seek(size - 3 * 4096)
        file.write(b"\xde\xad" * 2048)
    for args in (("stack", "state", "set", "s2", "b=2"), ("projections", "rebuild")):
        result = proc(*args)
        assert result.returncode == 2, result.stderr
        assert "is damaged" in result.stderr and ".recover" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
