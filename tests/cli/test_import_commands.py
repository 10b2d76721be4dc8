"""`sloth-runner import go|tfstate|pulumi`, end to end: what a user moving in finds."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun, ProcRun, event_count, nothing_stored, rows, stored_bytes
from tests.fixtures.go_database import (
    HISTORY_OF_PRODUCTION,
    LOCK_HOLDER,
    LOCK_ID,
    PRODUCTION,
    VERSIONS_OF_PRODUCTION,
    build_go_database,
)
from tests.support.unprivileged import Unprivileged

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TFSTATE = FIXTURES / "network.tfstate.json"
PULUMI = FIXTURES / "pulumi-export.json"


@pytest.fixture
def go_db(tmp_path: Path) -> Path:
    return build_go_database(tmp_path / "go-stacks.db")


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def parsed(cli: CliRun, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(cli: CliRun, db_path: Path, *args: str) -> str:
    """Run a command that must be refused as bad input: one line, exit 2, nothing written."""
    before = event_count(db_path)
    result = cli(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert event_count(db_path) == before
    return lines[0]


# ---- the Go tool's database ----------------------------------------------------------------

def test_stack_list_shows_what_the_go_tool_showed(cli: CliRun, go_db: Path) -> None:
    result = cli("import", "go", str(go_db))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"✓ Imported 3 stacks from {go_db}: 39 versions, 7 executions, 6 history entries, "
        "1 lock")
    rows = {line.split()[0]: line.split()[1:] for line in
            cli("stack", "list").stdout.splitlines()[4:7]}
    # The Go tool: LAST RUN is completed_at (else updated_at), DURATION last_duration,
    # EXECUTIONS execution_count.
    assert rows == {
        "dev-box": ["created", "2024-03-20", "10:00", "0s", "0"],
        "production-app": ["completed", "2024-03-14", "17:30", "1m", "24s", "12"],
        "staging-db": ["failed", "2024-03-12", "11:02", "5s", "3"],
    }
    shown = parsed(cli, "stack", "show", "production-app")
    assert shown["created_at"] == "2024-03-01T09:00:00.000000Z"
    assert shown["description"] == "Production web app"
    assert shown["outputs"] == {"url": "https://app.example", "replicas": 3}
    assert shown["values"] == {"version": "1.4.2", "workflow_file": "deploy.sloth",
                               "task_results": {"build": "ok", "deploy": "ok"}}


def test_versions_keep_their_numbers_creators_and_times(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    listing = parsed(cli, "stack", "snapshot", "list", "production-app")
    versions = {item["version"]: item for item in listing["snapshots"]}
    assert sorted(versions) == list(range(1, VERSIONS_OF_PRODUCTION + 1))
    assert (versions[37]["creator"], versions[37]["description"]) == (
        "ops@bastion", "before release 1.37.0")
    assert versions[35]["creator"] == "system"
    assert versions[1]["created_at"] == "2024-03-01T01:15:00.000000Z"
    first = parsed(cli, "stack", "snapshot", "show", "production-app", "v1")
    assert first["state"]["values"] == {"replicas": 2, "release": "1.1.0"}
    compared = parsed(cli, "stack", "snapshot", "compare", "production-app", "v1", "v37")
    assert compared["values"]["changed"] == [
        {"key": "release", "before": "1.1.0", "after": "1.37.0"}]
    # The next snapshot taken here follows the imported numbers.
    holder = {"SLOTH_RUNNER_ACTOR": LOCK_HOLDER}
    taken = cli("stack", "snapshot", "create", "production-app", env=holder)
    assert taken.exit_code == 0, taken.stderr
    assert "Snapshot v38" in taken.stdout


def test_time_travel_works_on_imported_versions(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    events = parsed(cli, "events", "list", "--stack", "production-app",
                    "--type", "snapshot.created")["events"]
    v10 = next(e for e in events if e["data"]["version"] == 10)
    at = parsed(cli, "stack", "show", "production-app", "--at-event", str(v10["id"]))
    assert at["values"] == {"replicas": 3, "release": "1.10.0"}


def test_the_go_tools_history_is_in_the_audit_log(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    events = parsed(cli, "events", "list", "--stack", "production-app")["events"]
    imported = [e for e in events if e["type"] == "history.imported"]
    assert len(imported) == HISTORY_OF_PRODUCTION
    assert all(e["source"] == "import" for e in imported)
    lock_line = next(e for e in imported if e["data"]["kind"] == "lock_acquired")
    assert (lock_line["timestamp"], lock_line["actor"]) == (
        "2024-03-14T17:00:00.000000Z", "ops@bastion")
    assert lock_line["message"] == "imported lock_acquired: State locked by ops@bastion"
    activity = next(e for e in imported if e["data"]["origin"] == "state_activity")
    assert (activity["actor"], activity["timestamp"]) == ("ops", "2024-03-14T17:30:12.000000Z")
    # Everything else is the importer's, now.
    created = events[0]
    assert (created["type"], created["actor"]) == ("stack.created", "tester@test")
    assert events[-1]["type"] == "stack.imported"
    # The original time and actor are what --since and --actor filter on.
    by_ops = parsed(cli, "events", "list", "--actor", "ops")["events"]
    assert [e["data"]["kind"] for e in by_ops] == ["deploy"]
    old = parsed(cli, "events", "list", "--until", "2024-03-14T23:00:00Z")["events"]
    assert {e["data"]["kind"] for e in old} == {"lock_acquired", "snapshot_created", "deploy",
                                                "operation_failed", "rollback"}
    table = cli("events", "list", "--stack", "production-app").stdout
    assert "2024-03-14 17:00:00  production-app  history.imported" in table


def test_a_held_lock_is_enforced_for_its_holder_until_its_expiry(cli: CliRun,
                                                                 go_db: Path) -> None:
    cli("import", "go", str(go_db))
    status = parsed(cli, "stack", "lock", "status", "production-app")
    assert status["status"] == "LOCKED"
    lock = status["lock"]
    assert (lock["lock_id"], lock["locked_by"], lock["acquired_by_actor"]) == (
        LOCK_ID, LOCK_HOLDER, LOCK_HOLDER)
    assert (lock["operation"], lock["reason"], lock["metadata"]) == (
        "deploy", "release 1.4.2", {"ticket": "OPS-12"})
    refused = cli("stack", "state", "set", "production-app", "x=1")
    assert refused.exit_code == 3
    assert "locked by ops@bastion (deploy)" in refused.stderr
    assert cli("stack", "state", "set", "production-app", "x=1",
               env={"SLOTH_RUNNER_ACTOR": LOCK_HOLDER}).exit_code == 0
    assert cli("stack", "state", "set", "production-app", "y=1",
               "--lock-id", LOCK_ID).exit_code == 0


def test_importing_again_records_nothing(cli: CliRun, go_db: Path, db_path: Path) -> None:
    assert cli("import", "go", str(go_db)).exit_code == 0
    before = event_count(db_path)
    again = cli("import", "go", str(go_db))
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[0] == (
        f"Nothing to import from {go_db}: 3 stacks imported already")
    assert event_count(db_path) == before
    report = parsed(cli, "import", "go", str(go_db))
    assert {s["result"] for s in report["stacks"]} == {"imported already"}
    assert event_count(db_path) == before


def test_the_go_database_is_left_byte_for_byte(cli: CliRun, go_db: Path) -> None:
    before = fingerprint(go_db)
    assert cli("import", "go", str(go_db)).exit_code == 0
    assert cli("import", "go", str(go_db), "--dry-run").exit_code == 0
    assert fingerprint(go_db) == before
    # No journal, log or shared-memory file was made beside it either.
    assert list(go_db.parent.glob(f"{go_db.name}-*")) == []


def test_a_dry_run_prints_the_same_and_writes_nothing(cli: CliRun, go_db: Path,
                                                      db_path: Path) -> None:
    dry = cli("import", "go", str(go_db), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert nothing_stored(db_path)
    assert dry.stdout.splitlines()[0].startswith(f"Would import 3 stacks from {go_db}: 39 ")
    assert dry.stdout.splitlines()[-1] == "(dry run: nothing was written)"
    real = cli("import", "go", str(go_db))
    assert real.stdout.replace("✓ Imported", "Would import").replace(
        "  imported  ", "  would import  ").split() == dry.stdout.split()[:-5]
    cli("stack", "create", "other")
    before = event_count(db_path)
    assert cli("import", "go", str(go_db), "--dry-run").exit_code == 0
    assert event_count(db_path) == before


def test_names_this_program_refuses_are_skipped_with_the_rule(cli: CliRun, go_db: Path) -> None:
    with sqlite3.connect(go_db) as connection:
        connection.execute("INSERT INTO stacks (id, name, status) VALUES ('x1', 'web app',"
                           " 'created')")
    result = cli("import", "go", str(go_db))
    assert result.exit_code == 1
    assert ("  web app: invalid stack name 'web app': use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit") in result.stdout.splitlines()
    assert "✓ Imported 3 stacks" in result.stdout
    assert "web app" not in cli("stack", "list").stdout


def test_a_stack_of_the_same_name_here_is_left_alone(cli: CliRun, go_db: Path,
                                                     db_path: Path) -> None:
    cli("stack", "create", "dev-box", "--description", "mine")
    result = parsed_any(cli, "import", "go", str(go_db))
    dev = next(s for s in result["stacks"] if s["name"] == "dev-box")
    assert dev["result"] == "skipped"
    assert "has a stack of that name already" in dev["reason"]
    assert parsed(cli, "stack", "show", "dev-box")["description"] == "mine"


def test_only_the_stacks_named(cli: CliRun, go_db: Path, db_path: Path) -> None:
    result = cli("import", "go", str(go_db), "--stack", "staging-db")
    assert result.exit_code == 0, result.stderr
    assert [s["name"] for s in parsed(cli, "stack", "list")["stacks"]] == ["staging-db"]
    before = event_count(db_path)
    missing = cli("import", "go", str(go_db), "--stack", "nope")
    assert missing.exit_code == 4
    assert missing.stderr.startswith("error: stack 'nope' not found")
    assert event_count(db_path) == before


def test_resources_keep_their_type_where_a_provider_takes_them(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    listed = parsed(cli, "stack", "resources", "list", "production-app")["resources"]
    kinds = {r["name"]: (r["type"], r["state"], r["dependencies"]) for r in listed}
    assert kinds == {"motd": ("file", "pending", []),
                     "nginx": ("imported", "recorded", ["motd"])}
    nginx = parsed(cli, "stack", "resources", "show", "production-app", "nginx")
    assert nginx["desired"]["imported_from"] == "go"
    assert nginx["desired"]["type"] == "package"


def test_runs_are_executions_with_their_times(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    runs = parsed(cli, "stack", "executions", "list", "staging-db")["executions"]
    assert [(r["status"], r["started_at"], r["duration_ms"]) for r in runs] == [
        ("failed", "2024-03-12T11:02:00.000000Z", 5192),
        ("completed", "2024-03-11T11:02:00.000000Z", 5192),
        ("completed", "2024-03-10T11:02:00.000000Z", 5192)]


def test_a_go_database_with_unexpected_columns_is_refused(cli: CliRun, go_db: Path,
                                                          db_path: Path) -> None:
    with sqlite3.connect(go_db) as connection:
        connection.execute("ALTER TABLE state_versions ADD COLUMN parent_version INTEGER")
    line = refused(cli, db_path, "import", "go", str(go_db))
    assert "table state_versions" in line and "'parent_version'" in line
    assert nothing_stored(db_path)


def test_a_go_database_missing_a_column_is_refused(cli: CliRun, go_db: Path,
                                                   db_path: Path) -> None:
    with sqlite3.connect(go_db) as connection:
        connection.execute("ALTER TABLE state_events DROP COLUMN event_type")
    line = refused(cli, db_path, "import", "go", str(go_db))
    assert "table state_events" in line and "no column 'event_type'" in line


def test_files_that_are_not_what_the_command_expects(cli: CliRun, go_db: Path, db_path: Path,
                                                     tmp_path: Path) -> None:
    assert "not a SQLite database" in refused(cli, db_path, "import", "go", str(TFSTATE))
    assert "is a SQLite database, not a Terraform state file" in refused(
        cli, db_path, "import", "tfstate", str(go_db), "--stack", "net")
    assert "is a SQLite database, not a Pulumi stack export" in refused(
        cli, db_path, "import", "pulumi", str(go_db), "--stack", "web")
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(TFSTATE.read_bytes()[:200])
    assert "is not valid JSON" in refused(cli, db_path, "import", "tfstate", str(truncated),
                                          "--stack", "net")
    assert "is not valid JSON" in refused(cli, db_path, "import", "pulumi", str(truncated),
                                          "--stack", "web")
    missing = tmp_path / "missing.db"
    assert refused(cli, db_path, "import", "go", str(missing)) == (
        f"error: cannot read {missing}: No such file or directory")
    assert refused(cli, db_path, "import", "tfstate", str(missing), "--stack", "net") == (
        f"error: cannot read {missing}: No such file or directory")
    assert "no `stacks` table" in refused(cli, db_path, "import", "go", str(
        _sqlite_with_table(tmp_path / "other.db")))
    assert refused(cli, db_path, "import", "pulumi", str(tmp_path), "--stack", "web") == (
        f"error: cannot read {tmp_path}: Is a directory")
    assert refused(cli, db_path, "import", "go", str(tmp_path)) == (
        f"error: {tmp_path} is a directory, not a database file")
    assert nothing_stored(db_path)


def test_an_unreadable_file_is_named(go_db: Path, unprivileged: Unprivileged) -> None:
    source = unprivileged.root / "go.db"
    shutil.copy(go_db, source)
    source.chmod(0)
    target = unprivileged.root / "stacks.db"
    result = unprivileged(target, "import", "go", str(source))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: cannot read {source}: Permission denied"
    assert not target.exists()


@pytest.mark.sqlite_only(reason="the target is a file")
def test_the_go_database_cannot_be_the_one_imported_into(cli: CliRun, go_db: Path,
                                                         db_path: Path) -> None:
    shutil.copy(go_db, db_path)
    before = fingerprint(db_path)
    line = refused(cli, db_path, "import", "go", str(db_path))
    assert "is also the database to import into" in line
    assert fingerprint(db_path) == before


@pytest.mark.sqlite_only(reason="the source is a sloth-runner database file")
def test_a_sloth_runner_database_is_not_a_go_database(cli: CliRun, db_path: Path,
                                                      tmp_path: Path) -> None:
    cli("stack", "create", "app")
    other = tmp_path / "other.db"
    assert "is a sloth-runner database" in refused(cli, other, "--db", str(other), "import",
                                                   "go", str(db_path))


def _sqlite_with_table(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return path


def parsed_any(cli: CliRun, *args: str) -> Any:
    """The JSON document of a command that may exit 1 (a stack skipped)."""
    result = cli(*args, "--json")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


# ---- Terraform state files ------------------------------------------------------------------

def test_a_terraform_state_is_a_push_to_the_backend(cli: CliRun, db_path: Path) -> None:
    result = cli("import", "tfstate", str(TFSTATE), "--stack", "network")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "✓ Imported Terraform state serial 12 (lineage 3f1a6b2c-8d4e-4f5a-9b6c-7d8e9f0a1b2c) "
        "into stack 'network' (a new stack) as v1: 3 outputs (1 sensitive: db_password), "
        "4 resources")
    assert parsed(cli, "stack", "output", "network") == {
        "vpc_id": "vpc-0a1b2c3d4e5f", "subnet_ids": ["subnet-0aa1", "subnet-0bb2"],
        "db_password": "<sensitive>"}
    resources = parsed(cli, "stack", "resources", "list", "network")["resources"]
    assert [(r["name"], r["type"], r["state"]) for r in resources] == [
        ("aws_subnet.private", "terraform", "recorded"),
        ("aws_vpc.main", "terraform", "recorded"),
        ("data.aws_availability_zones.available", "terraform", "recorded"),
        ("module.db.aws_db_instance.this", "terraform", "recorded")]
    db = parsed(cli, "stack", "resources", "show", "network", "module.db.aws_db_instance.this")
    assert db["desired"]["mode"] == "managed" and "aws" in db["desired"]["provider"]
    pushed = parsed(cli, "events", "list", "--type", "terraform.state.pushed")["events"]
    assert len(pushed) == 1
    assert (pushed[0]["source"], pushed[0]["data"]["serial"], pushed[0]["data"]["lineage"]) == (
        "import", 12, "3f1a6b2c-8d4e-4f5a-9b6c-7d8e9f0a1b2c")
    ((kept,),) = rows(db_path, "SELECT COUNT(*) FROM state_documents WHERE sha256 = ?",
                      (hashlib.sha256(TFSTATE.read_bytes()).hexdigest(),))
    assert kept == 1
    before = event_count(db_path)
    again = cli("import", "tfstate", str(TFSTATE), "--stack", "network")
    assert again.stdout.startswith("Nothing to import: stack 'network' holds this Terraform")
    assert event_count(db_path) == before


def test_other_terraform_state_formats_are_refused(cli: CliRun, db_path: Path,
                                                   tmp_path: Path) -> None:
    old = tmp_path / "old.tfstate"
    old.write_text(json.dumps({"version": 3, "serial": 1, "lineage": "x", "modules": []}))
    line = refused(cli, db_path, "import", "tfstate", str(old), "--stack", "net")
    assert "Terraform state of format version 3" in line
    nothing = tmp_path / "nothing.json"
    nothing.write_text('{"serial": 1}')
    assert "has no format 'version'" in refused(cli, db_path, "import", "tfstate",
                                                str(nothing), "--stack", "net")


def test_a_terraform_dry_run_writes_nothing(cli: CliRun, db_path: Path) -> None:
    result = cli("import", "tfstate", str(TFSTATE), "--stack", "network", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Would import Terraform state serial 12")
    assert nothing_stored(db_path)


# ---- Pulumi exports --------------------------------------------------------------------------

def test_a_pulumi_export_brings_outputs_and_resources(cli: CliRun, db_path: Path) -> None:
    result = cli("import", "pulumi", str(PULUMI), "--stack", "web-dev")
    assert result.exit_code == 0, result.stderr
    assert "4 outputs (2 secret: dbPassword, settings, kept as <secret>)" in result.stdout
    assert parsed(cli, "stack", "output", "web-dev") == {
        "bucketName": "web-assets-7f3a", "endpoint": "https://web-dev.example",
        "dbPassword": "<secret>", "settings": {"region": "eu-west-1", "apiKey": "<secret>"}}
    resources = {r["name"]: r for r in parsed(cli, "stack", "resources", "list",
                                              "web-dev")["resources"]}
    assert sorted(resources) == ["default_6_30_0", "web-assets", "web-db"]
    assert resources["web-db"]["dependencies"] == ["web-assets"]
    shown = parsed(cli, "stack", "resources", "show", "web-dev", "web-db")
    assert shown["desired"]["source_id"] == "urn:pulumi:dev::web::aws:rds/instance:Instance::web-db"
    assert shown["desired"]["type"] == "aws:rds/instance:Instance"
    imported = parsed(cli, "events", "list", "--type", "stack.imported")["events"][0]
    assert imported["data"]["secrets"] == ["dbPassword", "settings"]
    assert imported["data"]["source_id"] == "web/dev"


def test_pulumi_secrets_are_nowhere_in_the_database(cli: CliRun, db_path: Path) -> None:
    assert cli("import", "pulumi", str(PULUMI), "--stack", "web-dev").exit_code == 0
    cli("events", "list")
    stored = stored_bytes(db_path)
    for secret in (b"ak-live-0123456789", b"c2VjcmV0LWNpcGhlcnRleHQtb2YtdGhlLXBhc3N3b3Jk",
                   b"YW5vdGhlci1zZWNyZXQ=", b"v1:AAAAAAAAAAAAAAAA"):
        assert secret not in stored


def test_a_pulumi_export_twice_records_nothing_new(cli: CliRun, db_path: Path) -> None:
    cli("import", "pulumi", str(PULUMI), "--stack", "web-dev")
    before = event_count(db_path)
    again = cli("import", "pulumi", str(PULUMI), "--stack", "web-dev")
    assert again.exit_code == 0
    assert again.stdout.startswith("Nothing to import: stack 'web-dev' has the outputs")
    assert event_count(db_path) == before


def test_other_pulumi_deployment_versions_are_refused(cli: CliRun, db_path: Path,
                                                      tmp_path: Path) -> None:
    document = json.loads(PULUMI.read_text())
    document["version"] = 2
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    line = refused(cli, db_path, "import", "pulumi", str(old), "--stack", "web")
    assert "a Pulumi deployment of version 2 cannot be imported" in line
    not_pulumi = tmp_path / "state.json"
    not_pulumi.write_text(TFSTATE.read_text())
    assert "not a Pulumi stack export" in refused(cli, db_path, "import", "pulumi",
                                                  str(not_pulumi), "--stack", "web")


def test_an_export_can_come_from_standard_input(proc: ProcRun, db_path: Path) -> None:
    result = proc("import", "pulumi", "-", "--stack", "web-dev", input=PULUMI.read_text())
    assert result.returncode == 0, result.stderr
    assert "Imported Pulumi stack web/dev into stack 'web-dev'" in result.stdout


def test_a_real_process_exits_2_on_bad_input(proc: ProcRun, db_path: Path) -> None:
    result = proc("import", "go", str(TFSTATE))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert nothing_stored(db_path)


def test_the_production_stack_id_is_the_go_tools(cli: CliRun, go_db: Path) -> None:
    cli("import", "go", str(go_db))
    imported = parsed(cli, "events", "list", "--stack", "production-app", "--type",
                      "stack.imported")["events"][0]["data"]
    assert imported["source_id"] == PRODUCTION
    assert imported["tool"] == "go" and len(imported["import_id"]) == 64


# ---- the migration guide ---------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "en" / "migration-guide.md"
GUIDE_PATH = "/etc/sloth-runner/stacks.db"


def _text_blocks(section: str) -> list[str]:
    import re

    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(section)
    return re.findall(r"^```text\n(.*?)^```$", text[start:text.index("\n## ", start + 1)],
                      re.M | re.S)


def test_the_migration_guide_shows_a_real_go_import(cli: CliRun, go_db: Path) -> None:
    """The Go section's outputs are not run by the documentation tests (they need a Go
    database): they are checked here, on the database the tests build."""
    import shlex

    from tests.docs.consoles import mask, steps

    printed_import, transcript = _text_blocks("## From the original Go sloth-runner")
    result = cli("import", "go", str(go_db))
    assert mask(result.stdout.replace(str(go_db), GUIDE_PATH)) == mask(printed_import)
    for step in steps(transcript):
        args = shlex.split(step.command)
        assert args[0] == "sloth-runner"
        printed = cli(*args[1:]).stdout.splitlines()
        expected = step.expected
        if "..." in expected:  # the guide shows the first lines only
            expected = expected[:expected.index("...")]
            printed = printed[:len(expected)]
        assert mask("\n".join(printed)) == mask("\n".join(expected)), step.command
