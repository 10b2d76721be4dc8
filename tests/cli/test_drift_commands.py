"""`stack resources` and `stack drift` end to end: usage example 3, plans, locks, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_bad_input import assert_refused
from tests.conftest import CliRun, Database, ProcRun, event_count, world

RESOURCES = """\
resources:
  - name: motd
    type: file
    path: {srv}/app/motd
    content: "hello\\n"
    mode: "0644"
  - name: data-dir
    type: directory
    path: {srv}/app/data
  - name: marker
    type: command
    check: ["test", "-f", "{srv}/app/data/marker"]
    fix: ["touch", "{srv}/app/data/marker"]
    depends_on: [data-dir]
"""


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    root.mkdir()
    return root


def resources_file(tmp_path: Path, srv: Path, text: str = RESOURCES,
                   name: str = "resources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.format(srv=srv))
    return path


def ok(result: Any) -> str:
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


def declared(cli: CliRun, tmp_path: Path, srv: Path, stack: str = "production-stack") -> None:
    ok(cli("stack", "create", stack))
    ok(cli("stack", "resources", "apply", stack, "-f", str(resources_file(tmp_path, srv))))


def event_types(cli: CliRun, stack: str) -> list[str]:
    result = cli("events", "list", "--stack", stack, "--json")
    return [e["type"] for e in json.loads(result.stdout)["events"]]


def test_usage_example_3(cli: CliRun, tmp_path: Path, srv: Path) -> None:
    declared(cli, tmp_path, srv)
    detected = ok(cli("stack", "drift", "detect", "production-stack"))
    assert "Drift report for stack: production-stack" in detected
    lines = detected.splitlines()
    assert lines[lines.index("RESOURCE  TYPE       ATTRIBUTE  EXPECTED   ACTUAL") + 2:][:3] == [
        'data-dir  directory  ensure     "present"  "absent"',
        'motd      file       ensure     "present"  "absent"',
        "marker    command    exit_code  0          1"]
    assert "Result: DRIFTED - 3 of 3 resources drifted, 0 unknown, 0 in sync" in detected

    shown = ok(cli("stack", "drift", "show", "production-stack"))
    assert "by tester@test (event 5, drift.detected)" in shown
    assert 'motd      file       ensure     "present"  "absent"' in shown
    assert "Result: DRIFTED - 3 of 3 resources drifted, 0 unknown, 0 in sync" in shown

    fixed = ok(cli("stack", "drift", "fix", "production-stack", "--auto-approve"))
    assert "Drift fix plan for stack 'production-stack': 3 of 3 resources to fix" in fixed
    assert "Result: 3 repaired, 0 failed (recorded as drift.fixed)" in fixed
    assert (srv / "app" / "motd").read_text() == "hello\n"
    assert (srv / "app" / "data" / "marker").is_file()
    again = ok(cli("stack", "drift", "detect", "production-stack"))
    assert "Result: IN SYNC - 3 resources match the desired state" in again
    assert event_types(cli, "production-stack")[-3:] == [
        "drift.detected", "drift.fixed", "drift.checked"]


def test_usage_example_3_through_the_console_script(proc: ProcRun, tmp_path: Path,
                                                   srv: Path) -> None:
    assert proc("stack", "create", "production-stack").returncode == 0
    file = resources_file(tmp_path, srv)
    assert proc("stack", "resources", "apply", "production-stack", "-f", str(file)).returncode == 0
    assert proc("stack", "drift", "detect", "production-stack").returncode == 0
    assert proc("stack", "drift", "detect", "production-stack", "--exit-code").returncode == 1
    assert proc("stack", "drift", "show", "production-stack").returncode == 0
    refused = proc("stack", "drift", "fix", "production-stack")  # no TTY, no --auto-approve
    assert refused.returncode == 2
    assert "pass --auto-approve" in refused.stderr
    assert world(srv) == {}
    fixed = proc("stack", "drift", "fix", "production-stack", "--auto-approve")
    assert fixed.returncode == 0, fixed.stderr
    assert proc("stack", "drift", "detect", "production-stack", "--exit-code").returncode == 0


def test_drift_out_of_band_is_repaired(cli: CliRun, tmp_path: Path, srv: Path) -> None:
    declared(cli, tmp_path, srv)
    ok(cli("stack", "drift", "fix", "production-stack", "--auto-approve"))
    motd = srv / "app" / "motd"
    motd.write_text("tampered\n")
    motd.chmod(0o600)
    detected = cli("stack", "drift", "detect", "production-stack", "--exit-code")
    assert detected.exit_code == 1
    assert 'motd      file  content    "hello\\n"  "tampered\\n"' in detected.stdout
    assert 'motd      file  mode       "0644"     "0600"' in detected.stdout
    summary = "Result: DRIFTED - 1 of 3 resources drifted, 0 unknown, 2 in sync"
    assert summary in detected.stdout
    shown = ok(cli("stack", "drift", "show", "production-stack"))
    assert summary in shown
    assert "data-dir" not in shown  # in sync: not part of the report
    fixed = ok(cli("stack", "drift", "fix", "production-stack", "--auto-approve"))
    assert "✓ motd: repaired (content, mode)" in fixed
    assert (motd.read_text(), motd.stat().st_mode & 0o777) == ("hello\n", 0o644)
    assert cli("stack", "drift", "detect", "production-stack", "--exit-code").exit_code == 0


def test_accept_adopts_what_is_there(cli: CliRun, tmp_path: Path, srv: Path) -> None:
    declared(cli, tmp_path, srv)
    ok(cli("stack", "drift", "fix", "production-stack", "--auto-approve"))
    (srv / "app" / "motd").write_text("edited by hand\n")
    before = world(srv)
    accepted = ok(cli("stack", "drift", "fix", "production-stack", "--accept", "--auto-approve"))
    assert "The declarations will take the ACTUAL values" in accepted
    assert "✓ motd: accepted (content)" in accepted
    assert world(srv) == before
    shown = json.loads(ok(cli("stack", "resources", "show", "production-stack", "motd",
                              "--json")))
    assert (shown["state"], shown["desired"]["content"]) == ("in_sync", "edited by hand\n")
    assert event_types(cli, "production-stack")[-2:] == ["resource.updated", "drift.fixed"]


def test_resources_apply_plans_adds_changes_and_removals(cli: CliRun, tmp_path: Path, srv: Path,
                                                         db_path: Database) -> None:
    declared(cli, tmp_path, srv)
    second = resources_file(tmp_path, srv, RESOURCES.replace('"hello\\n"', '"bye\\n"').split(
        "  - name: marker")[0] + "  - name: logs\n    type: directory\n    path: {srv}/logs\n",
        name="second.yaml")
    before = event_count(db_path)
    dry = ok(cli("stack", "resources", "apply", "production-stack", "-f", str(second),
                 "--dry-run"))
    assert event_count(db_path) == before
    plan = ["Plan for stack 'production-stack': 1 to add, 1 to change, 1 to remove (1 unchanged)",
            "", "  + logs (directory)", "  ~ motd (file): content", "  - marker"]
    assert dry.splitlines()[:5] == plan
    assert "Dry run: nothing recorded." in dry
    applied = ok(cli("stack", "resources", "apply", "production-stack", "-f", str(second)))
    assert applied.splitlines()[:5] == plan
    assert "✓ Resources of 'production-stack' declared: 1 added, 1 changed, 1 removed" in applied
    assert event_types(cli, "production-stack")[-3:] == [
        "resource.declared", "resource.updated", "resource.removed"]
    again = ok(cli("stack", "resources", "apply", "production-stack", "-f", str(second)))
    assert "No changes" in again
    assert world(srv) == {}  # declaring never touches the real world


def test_resources_list_show_and_remove(cli: CliRun, tmp_path: Path, srv: Path,
                                        db_path: Database) -> None:
    declared(cli, tmp_path, srv)
    listing = ok(cli("stack", "resources", "list", "production-stack")).splitlines()
    assert listing[2:7] == [
        "NAME      TYPE       STATE    DEPENDS ON  CHECKED",
        "----      ----       -----    ----------  -------",
        "data-dir  directory  pending  -           -",
        "marker    command    pending  data-dir    -",
        "motd      file       pending  -           -"]
    assert listing[-1] == "Total: 3 resources"
    ok(cli("stack", "drift", "detect", "production-stack"))
    shown = ok(cli("stack", "resources", "show", "production-stack", "motd"))
    for line in ("  State:       drifted", '  content = "hello\\n"', '  mode = "0644"',
                 '  ensure = "absent"', '  ensure: expected "present", actual "absent"'):
        assert line in shown
    before = event_count(db_path)
    assert_refused(cli("stack", "resources", "remove", "production-stack", "data-dir"), 5,
                   db_path, before, fragment="needed by 'marker'")
    assert_refused(cli("stack", "resources", "show", "production-stack", "ghost"), 4, db_path,
                   before, fragment="resource 'ghost' not found")
    ok(cli("stack", "drift", "fix", "production-stack", "--auto-approve"))
    in_sync = ok(cli("stack", "resources", "show", "production-stack", "motd"))
    assert "  State:       in_sync" in in_sync
    assert "Last observed:\n  (as desired)" in in_sync
    ok(cli("stack", "resources", "remove", "production-stack", "marker"))
    assert "marker" not in ok(cli("stack", "resources", "list", "production-stack"))


def test_a_terminal_is_asked(cli: CliRun, tmp_path: Path, srv: Path, db_path: Database,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    declared(cli, tmp_path, srv)
    monkeypatch.setattr("cli.drift.refuse_without_terminal", lambda **_: None)
    before = event_count(db_path)
    declined = cli("stack", "drift", "fix", "production-stack", input="n\n")
    assert declined.exit_code == 1
    assert "Go ahead?" in declined.stderr and "cancelled" in declined.stderr
    assert (event_count(db_path), world(srv)) == (before, {})
    agreed = cli("stack", "drift", "fix", "production-stack", input="y\n")
    assert agreed.exit_code == 0, agreed.stderr
    assert (srv / "app" / "motd").exists()


def test_detect_show_and_dry_run_change_nothing_outside(cli: CliRun, tmp_path: Path, srv: Path,
                                                        db_path: Database) -> None:
    declared(cli, tmp_path, srv)
    (srv / "app").mkdir()
    (srv / "app" / "motd").write_text("tampered\n")
    before = world(srv)
    ok(cli("stack", "drift", "detect", "production-stack"))
    ok(cli("stack", "drift", "show", "production-stack"))
    events = event_count(db_path)
    dry = ok(cli("stack", "drift", "fix", "production-stack", "--dry-run"))
    ok(cli("stack", "drift", "fix", "production-stack", "--dry-run", "--accept"))
    assert "Dry run: nothing was changed or recorded." in dry
    assert event_count(db_path) == events
    assert world(srv) == before


def test_a_partial_failure_exits_1_naming_it_and_records_the_rest(
        cli: CliRun, tmp_path: Path, srv: Path) -> None:
    (srv / "regular").write_text("")
    text = RESOURCES + ("  - name: broken\n    type: file\n    path: {srv}/regular/motd\n"
                        "    content: x\n")
    ok(cli("stack", "create", "app"))
    ok(cli("stack", "resources", "apply", "app", "-f", str(resources_file(tmp_path, srv, text))))
    detected = ok(cli("stack", "drift", "detect", "app"))
    assert "broken    file       (unknown)  -          cannot read " in detected
    result = cli("stack", "drift", "fix", "app", "--auto-approve")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: drift fix failed for 'broken': cannot read ")
    assert "✓ motd: repaired" in result.stdout
    assert "✗ broken: failed: cannot read" in result.stdout
    assert "Result: 3 repaired, 1 failed" in result.stdout
    assert (srv / "app" / "motd").exists()
    shown = ok(cli("stack", "drift", "show", "app"))
    assert "3 of 4 succeeded" in shown
    assert "  ✗ broken: failed: cannot read" in shown


def test_fix_is_refused_under_someone_elses_lock(cli: CliRun, tmp_path: Path, srv: Path,
                                                 db_path: Database) -> None:
    declared(cli, tmp_path, srv)
    ok(cli("stack", "lock", "acquire", "production-stack", "--operation", "deploy",
           env={"SLOTH_RUNNER_ACTOR": "deploy-bot"}))
    lock_id = json.loads(cli("stack", "lock", "status", "production-stack",
                             "--json").stdout)["lock"]["lock_id"]
    before = event_count(db_path)
    refused = cli("stack", "drift", "fix", "production-stack", "--auto-approve",
                  env={"SLOTH_RUNNER_ACTOR": "mallory@m"})
    assert refused.exit_code == 3
    assert "locked by deploy-bot (deploy)" in refused.stderr.splitlines()[0]
    assert (event_count(db_path), world(srv)) == (before, {})
    for command in (("resources", "apply", "production-stack", "-f",
                     str(tmp_path / "resources.yaml")),
                    ("resources", "remove", "production-stack", "marker")):
        assert cli("stack", *command, env={"SLOTH_RUNNER_ACTOR": "mallory@m"}).exit_code == 3
    assert event_count(db_path) == before
    holder = cli("stack", "drift", "fix", "production-stack", "--auto-approve",
                 "--lock-id", lock_id, env={"SLOTH_RUNNER_ACTOR": "ci@runner"})
    assert holder.exit_code == 0, holder.stderr
    assert (srv / "app" / "motd").exists()


def test_auto_lock_wraps_the_fix(cli: CliRun, tmp_path: Path, srv: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_lock: true\n")
    declared(cli, tmp_path, srv)
    ok(cli("--config", str(config), "stack", "drift", "fix", "production-stack",
           "--auto-approve"))
    assert event_types(cli, "production-stack")[-3:] == [
        "lock.acquired", "drift.fixed", "lock.released"]


def test_json_field_names_are_stable(cli: CliRun, tmp_path: Path, srv: Path) -> None:
    ok(cli("stack", "create", "app"))
    applied = json.loads(ok(cli("stack", "resources", "apply", "app", "-f",
                                str(resources_file(tmp_path, srv)), "--json")))
    assert set(applied) == {"stack", "stack_id", "version", "events", "plan", "dry_run"}
    assert set(applied["plan"]) == {"added", "changed", "removed", "unchanged"}
    listing = json.loads(ok(cli("stack", "resources", "list", "app", "--json")))
    assert set(listing) == {"stack", "resources", "total"}
    assert set(listing["resources"][0]) == {
        "id", "stack_id", "name", "type", "state", "dependencies", "desired", "observed",
        "drift", "reason", "declared_at", "declared_by", "updated_at", "updated_by",
        "checked_at", "checked_by"}
    detected = json.loads(ok(cli("stack", "drift", "detect", "app", "--json")))
    assert set(detected) == {"stack", "stack_id", "version", "events", "report", "summary"}
    assert detected["summary"] == {"total": 3, "in_sync": 0, "drifted": 3, "unknown": 0,
                                   "status": "drifted"}
    assert set(detected["report"]["resources"][0]) == {
        "name", "type", "status", "differences", "observed", "reason"}
    fixed = json.loads(ok(cli("stack", "drift", "fix", "app", "--auto-approve", "--json")))
    assert set(fixed) == {"stack", "stack_id", "version", "events", "plan", "dry_run",
                          "cancelled", "fixes"}
    assert set(fixed["fixes"][0]) == {"name", "type", "result", "changes", "after", "reason"}
    shown = json.loads(ok(cli("stack", "drift", "show", "app", "--json")))
    assert set(shown) == {"stack", "report", "fix"}
    assert set(shown["report"]) == {"event_id", "event_type", "checked_at", "checked_by",
                                    "correlation_id", "total", "in_sync", "drifted", "unknown",
                                    "resources"}
    assert set(shown["fix"]) == {"event_id", "fixed_at", "fixed_by", "mode", "resources"}


def test_show_before_any_detection(cli: CliRun) -> None:
    ok(cli("stack", "create", "app"))
    assert "No drift report yet" in ok(cli("stack", "drift", "show", "app"))
    assert json.loads(ok(cli("stack", "drift", "show", "app", "--json"))) == {
        "stack": "app", "report": None, "fix": None}


BAD_FILES = [
    ("resources: [unclosed\n", "bad.yaml:2: not valid YAML"),
    ("resources:\n  - name: a\n    type: flie\n    path: /x\n",
     "bad.yaml:2: resource 'a': unknown type 'flie'"),
    ("resources:\n  - name: a\n    type: file\n",
     "bad.yaml:2: resource 'a' (file): missing attribute 'path'"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n    colour: red\n",
     "unknown attribute 'colour'"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n    mode: 0644\n",
     "bad.yaml:2: resource 'a' (file): mode: invalid mode 420"),
    ("resources:\n  - name: a\n    type: directory\n    path: /x\n    mode: rwx\n",
     "invalid mode 'rwx'"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n  - name: a\n    type: file\n"
     "    path: /y\n", "bad.yaml:5: duplicate resource name 'a'"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n    depends_on: [ghost]\n",
     "bad.yaml:2: resource 'a' depends on 'ghost', which is not declared"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n    depends_on: [b]\n  - name: b\n"
     "    type: file\n    path: /y\n    depends_on: [a]\n", "in a cycle: "),
    ("resources:\n  - name: a\n    type: command\n    check: test -f /x\n", "set shell: true"),
    ("resources:\n  - name: a\n    type: file\n    path: /x\n    path: /y\n",
     "bad.yaml:5: key 'path' appears twice"),
    ("resources:\n  - type: file\n    path: /x\n", "bad.yaml:2: a resource needs a 'name'"),
    ("resources:\n  - name: bad name\n    type: file\n    path: /x\n", "invalid resource name"),
    ("resources:\n", "'resources' must be a list"),
    ("resource: []\n", "unknown key 'resource'"),
    ("- just a list\n", "expected a mapping with a 'resources' list"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_FILES, ids=[f for _, f in BAD_FILES])
def test_bad_resource_files(cli: CliRun, tmp_path: Path, db_path: Database, text: str,
                            fragment: str) -> None:
    ok(cli("stack", "create", "app"))
    (tmp_path / "bad.yaml").write_text(text)
    before = event_count(db_path)
    for dry in ([], ["--dry-run"]):
        result = cli("stack", "resources", "apply", "app", "-f", str(tmp_path / "bad.yaml"), *dry)
        assert_refused(result, 2, db_path, before, fragment=fragment)


def test_unknown_or_destroyed_targets(cli: CliRun, tmp_path: Path, srv: Path,
                                      db_path: Database) -> None:
    declared(cli, tmp_path, srv, stack="app")
    ok(cli("stack", "create", "gone"))
    ok(cli("stack", "destroy", "gone", "--yes"))
    before = event_count(db_path)
    file = str(tmp_path / "resources.yaml")
    for args, code, fragment in [
        (("drift", "detect", "nope"), 4, "stack 'nope' not found"),
        (("drift", "show", "nope"), 4, "stack 'nope' not found"),
        (("drift", "fix", "nope", "--auto-approve"), 4, "stack 'nope' not found"),
        (("resources", "list", "nope"), 4, "stack 'nope' not found"),
        (("resources", "apply", "nope", "-f", file), 4, "stack 'nope' not found"),
        (("drift", "fix", "app", "--resource", "ghost", "--auto-approve"), 4,
         "resource 'ghost' not found"),
        (("drift", "fix", "app", "--resource", "ghost", "--dry-run"), 4, "resource 'ghost'"),
        (("resources", "remove", "app", "ghost"), 4, "resource 'ghost' not found"),
        (("drift", "detect", "gone"), 5, "is destroyed"),
        (("drift", "fix", "gone", "--auto-approve"), 5, "is destroyed"),
        (("resources", "apply", "gone", "-f", file), 5, "is destroyed"),
        (("drift", "detect", "bad name"), 2, "invalid stack name"),
        (("resources", "apply", "app", "-f", str(tmp_path / "missing.yaml")), 2, "cannot read"),
    ]:
        assert_refused(cli("stack", *args), code, db_path, before, fragment=fragment)
    assert world(srv) == {}


def test_the_example_file_is_accepted(cli: CliRun, db_path: Database) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "resources.yaml"
    ok(cli("stack", "create", "production-stack"))
    planned = ok(cli("stack", "resources", "apply", "production-stack", "-f", str(example),
                     "--dry-run"))
    assert planned.startswith("Plan for stack 'production-stack': 6 to add, 0 to change")
    assert "  + marker (command), depends on data-dir" in planned


def test_auto_snapshot_before_a_fix_and_restore_brings_declarations_back(
        cli: CliRun, tmp_path: Path, srv: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("stacks:\n  auto_snapshot: true\n")
    declared(cli, tmp_path, srv)
    fixed = json.loads(ok(cli("--config", str(config), "stack", "drift", "fix",
                              "production-stack", "--auto-approve", "--json")))
    assert fixed["snapshot"]["creator"] == "system"
    assert event_types(cli, "production-stack")[-2:] == ["snapshot.created", "drift.fixed"]
    shown = json.loads(ok(cli("stack", "snapshot", "show", "production-stack", "v1", "--json")))
    assert shown["description"] == "Automatic snapshot before drift fix"
    assert sorted(shown["state"]["resources"]) == ["data-dir", "marker", "motd"]
    # Declarations are part of a version: removing one shows in compare; restore brings it back.
    ok(cli("stack", "resources", "remove", "production-stack", "motd"))
    diff = json.loads(ok(cli("stack", "snapshot", "compare", "production-stack", "v1", "current",
                             "--json")))
    assert [c["key"] for c in diff["resources"]["removed"]] == ["motd"]
    ok(cli("stack", "snapshot", "restore", "production-stack", "v1", "--yes"))
    listing = json.loads(ok(cli("stack", "resources", "list", "production-stack", "--json")))
    assert sorted(r["name"] for r in listing["resources"]) == ["data-dir", "marker", "motd"]
    assert json.loads(ok(cli("stack", "snapshot", "compare", "production-stack", "v1", "current",
                             "--json")))["empty"] is True
