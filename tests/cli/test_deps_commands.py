"""`sloth-runner stack deps ...` end to end: usage example 4, cycles, graph files, bad input."""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli.test_bad_input import assert_refused
from tests.conftest import CliRun, Database, ProcRun, database_args, event_count
from tests.unit.test_graphview import parse_dot, parse_mermaid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_stacks(cli: CliRun) -> None:
    """The usage example's three stacks, plus a cache that app-stack needs and nobody created yet."""
    assert cli("stack", "create", "db-stack").exit_code == 0
    assert cli("stack", "create", "app-stack", "--depends-on", "db-stack").exit_code == 0
    assert cli("stack", "create", "frontend-stack", "--depends-on", "app-stack").exit_code == 0


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def edges_of(cli: CliRun, *args: str) -> set[tuple[str, str]]:
    document = json.loads(cli("stack", "deps", "graph", *args, "--format", "json").stdout)
    return {(e["stack"], e["depends_on"]) for e in document["edges"]}


def test_usage_example_4(cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_stacks(cli)
    monkeypatch.chdir(tmp_path)
    shown = cli("stack", "deps", "show", "app-stack")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "'app-stack' depends on 1 stack:"
    assert re.search(r"^db-stack\s+created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+tester@test$",
                     shown.stdout, re.MULTILINE)
    drawn = cli("stack", "deps", "graph", "app-stack", "--output", "deps.png")
    assert drawn.exit_code == 0, drawn.stderr
    assert "Wrote deps.png (png: 3 stacks, 2 dependencies)" in drawn.stdout
    width, height = png_size(tmp_path / "deps.png")
    assert 150 < width < 3000 and 150 < height < 3000
    checked = cli("stack", "deps", "check", "app-stack")
    assert checked.exit_code == 0, checked.stdout
    assert "No cycles, no missing or destroyed dependencies" in checked.stdout
    ordered = cli("stack", "deps", "order", "db-stack", "app-stack", "frontend-stack")
    assert ordered.exit_code == 0, ordered.stderr
    assert ordered.stdout.splitlines()[2:] == [
        "Level 1: db-stack", "Level 2: app-stack", "Level 3: frontend-stack"]


def test_add_remove_and_show_both_ways(cli: CliRun) -> None:
    make_stacks(cli)
    added = cli("stack", "deps", "add", "app-stack", "cache-stack", "db-stack")
    assert added.exit_code == 0, added.stderr
    assert added.stdout.splitlines() == [
        "✓ 'app-stack' now depends on cache-stack", "'app-stack' already depends on db-stack",
        "note: no stack 'cache-stack' exists yet"]
    shown = json.loads(cli("stack", "deps", "show", "db-stack", "--reverse", "--transitive",
                           "--json").stdout)
    assert [(s["name"], s["depth"]) for s in shown["stacks"]] == [("app-stack", 1),
                                                                  ("frontend-stack", 2)]
    assert shown["stacks"][0]["added_by"] == "tester@test" and shown["stacks"][1]["added_by"] is None
    removed = cli("stack", "deps", "remove", "app-stack", "cache-stack", "--json")
    assert json.loads(removed.stdout)["events"] == ["stack.dependency.removed"]
    assert cli("stack", "deps", "show", "db-stack").stdout == "'db-stack' depends on no other stack\n"
    types = [e["type"] for e in json.loads(cli("events", "list", "--stack", "app-stack",
                                               "--json").stdout)["events"]]
    assert types == ["stack.created", "stack.dependency.added", "stack.dependency.added",
                     "stack.dependency.removed"]


def test_a_cycle_is_refused_at_add_time_with_the_cycle(cli: CliRun, db_path: Database) -> None:
    make_stacks(cli)
    before = event_count(db_path)
    result = cli("stack", "deps", "add", "db-stack", "cache-stack", "frontend-stack")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: dependency cycle: db-stack -> frontend-stack -> app-stack -> db-stack")
    assert event_count(db_path) == before


def test_a_cycle_through_a_stack_created_later_is_found_by_check_and_order(cli: CliRun) -> None:
    cli("stack", "create", "a", "--depends-on", "b")
    created = cli("stack", "create", "b", "--depends-on", "a")
    # b did not exist when a declared its edge, so creating b is not refused; it warns.
    assert created.exit_code == 0
    assert "warning: dependency cycle a -> b -> a" in created.stderr
    checked = cli("stack", "deps", "check", "a")
    assert checked.exit_code == 1
    assert "  cycle:      a -> b -> a" in checked.stdout.splitlines()
    assert json.loads(cli("stack", "deps", "check", "b", "--json").stdout)["cycles"] == [
        ["a", "b", "a"]]
    ordered = cli("stack", "deps", "order", "a")
    assert ordered.exit_code == 1
    assert re.fullmatch(r"error: dependency cycle: (a -> b -> a|b -> a -> b)\n", ordered.stderr)
    assert ordered.stdout == ""


def test_check_reports_missing_and_destroyed_dependencies(cli: CliRun) -> None:
    make_stacks(cli)
    cli("stack", "deps", "add", "app-stack", "cache-stack")
    cli("stack", "destroy", "db-stack", "--yes")
    result = cli("stack", "deps", "check", "frontend-stack")
    assert result.exit_code == 1
    assert "  missing:    cache-stack (required by app-stack)" in result.stdout
    assert "  destroyed:  db-stack (required by app-stack)" in result.stdout
    assert "2 problems found" in result.stdout
    document = json.loads(cli("stack", "deps", "check", "frontend-stack", "--json").stdout)
    assert (document["ok"], document["missing"][0]["stack"], document["destroyed"][0]["stack"]) == (
        False, "cache-stack", "db-stack")
    ordered = json.loads(cli("stack", "deps", "order", "frontend-stack", "--json").stdout)
    assert ordered["levels"] == [["cache-stack", "db-stack"], ["app-stack"], ["frontend-stack"]]
    assert (ordered["missing"], ordered["destroyed"]) == (["cache-stack"], ["db-stack"])


def test_order_all_covers_every_live_stack(cli: CliRun) -> None:
    make_stacks(cli)
    cli("stack", "create", "lonely")
    result = json.loads(cli("stack", "deps", "order", "--all", "--json").stdout)
    assert result["levels"] == [["db-stack", "lonely"], ["app-stack"], ["frontend-stack"]]


def test_graph_files_parse_back_to_the_same_edges(cli: CliRun, tmp_path: Path) -> None:
    make_stacks(cli)
    cli("stack", "deps", "add", "app-stack", "cache-stack")
    cli("stack", "create", "other")
    expected = {("app-stack", "db-stack"), ("app-stack", "cache-stack"),
                ("frontend-stack", "app-stack")}
    assert edges_of(cli, "--all") == expected
    for name in ("deps.dot", "deps.mmd", "deps.json", "deps.svg", "deps.png"):
        result = cli("stack", "deps", "graph", "--all", "--output", str(tmp_path / name))
        assert result.exit_code == 0, result.stderr
    dot_nodes, dot_edges = parse_dot((tmp_path / "deps.dot").read_text())
    assert dot_edges == expected
    assert dot_nodes["cache-stack"].endswith("(missing)") and "other" in dot_nodes
    mermaid_nodes, mermaid_edges = parse_mermaid((tmp_path / "deps.mmd").read_text())
    assert mermaid_edges == expected and set(mermaid_nodes) == set(dot_nodes)
    document = json.loads((tmp_path / "deps.json").read_text())
    assert {(e["stack"], e["depends_on"]) for e in document["edges"]} == expected
    svg = ET.parse(tmp_path / "deps.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    for name in ("app-stack", "db-stack", "frontend-stack", "cache-stack", "missing"):
        assert name in texts
    width, height = png_size(tmp_path / "deps.png")
    assert 150 < width < 5000 and 150 < height < 5000


def test_graph_of_one_stack_draws_both_directions_but_not_strangers(cli: CliRun) -> None:
    make_stacks(cli)
    cli("stack", "create", "other", "--depends-on", "elsewhere")
    assert edges_of(cli, "app-stack") == {("app-stack", "db-stack"),
                                          ("frontend-stack", "app-stack")}
    tree = cli("stack", "deps", "graph", "db-stack").stdout
    assert tree.splitlines()[0] == "frontend-stack (created)"
    assert "other" not in tree


def test_pictures_render_in_a_real_process(proc: ProcRun, tmp_path: Path) -> None:
    assert proc("stack", "create", "db").returncode == 0
    assert proc("stack", "create", "app", "--depends-on", "db", "--depends-on", "ghost").returncode == 0
    result = proc("stack", "deps", "graph", "app", "--output", str(tmp_path / "g.png"))
    assert result.returncode == 0, result.stderr
    assert png_size(tmp_path / "g.png")[0] > 150
    cycle = proc("stack", "deps", "add", "db", "app")
    assert (cycle.returncode, cycle.stderr.splitlines()[0][:38]) == (
        1, "error: dependency cycle: db -> app -> ")


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (("stack", "deps", "add", "app-stack", "app-stack"), 2, "cannot depend on itself"),
    (("stack", "create", "x", "--depends-on", "x"), 2, "cannot depend on itself"),
    (("stack", "deps", "add", "app-stack", "bad name"), 2, "invalid stack name"),
    (("stack", "deps", "graph", "app-stack", "--format", "xml"), 2, "unknown format 'xml'"),
    (("stack", "deps", "graph", "app-stack", "--output", "g.txt"), 2, "unknown output extension"),
    (("stack", "deps", "graph", "app-stack", "--format", "dot", "--output", "g.svg"), 2,
     "does not match"),
    (("stack", "deps", "graph"), 2, "name a STACK or pass --all"),
    (("stack", "deps", "order"), 2, "name at least one stack"),
    (("stack", "deps", "order", "app-stack", "--all"), 2, "not both"),
    (("stack", "deps", "show", "nope"), 4, "stack 'nope' not found"),
    (("stack", "deps", "graph", "nope"), 4, "stack 'nope' not found"),
    (("stack", "deps", "check", "nope"), 4, "stack 'nope' not found"),
    (("stack", "deps", "order", "app-stack", "nope"), 4, "stack 'nope' not found"),
    (("stack", "deps", "add", "nope", "db-stack"), 4, "stack 'nope' not found"),
    (("stack", "deps", "remove", "app-stack", "cache-stack"), 4, "does not depend on 'cache-stack'"),
    (("stack", "deps", "show", "cache-stack"), 4, "stack 'cache-stack' not found"),
])
def test_bad_input(cli: CliRun, db_path: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   args: tuple[str, ...], code: int, fragment: str) -> None:
    make_stacks(cli)
    monkeypatch.chdir(tmp_path)
    before = event_count(db_path)
    assert_refused(cli(*args), code, db_path, before, fragment=fragment)
    assert not list(tmp_path.glob("g.*"))


def test_changes_to_a_destroyed_or_locked_stack_are_refused(cli: CliRun, db_path: Database) -> None:
    make_stacks(cli)
    cli("stack", "lock", "acquire", "app-stack", env={"SLOTH_RUNNER_ACTOR": "deploy-bot"})
    before = event_count(db_path)
    locked = cli("stack", "deps", "add", "app-stack", "x")
    assert locked.exit_code == 3 and "deploy-bot" in locked.stderr
    cli("stack", "destroy", "db-stack", "--yes")
    before = event_count(db_path)
    assert_refused(cli("stack", "deps", "add", "db-stack", "x"), 5, db_path, before,
                   fragment="destroyed")


def test_json_documents_keep_their_fields(cli: CliRun) -> None:
    make_stacks(cli)
    added = json.loads(cli("stack", "deps", "add", "app-stack", "q", "--json").stdout)
    assert set(added) == {"stack", "stack_id", "version", "events", "added", "missing"}
    shown = json.loads(cli("stack", "deps", "show", "app-stack", "--json").stdout)
    assert set(shown) == {"stack", "direction", "transitive", "stacks", "total"}
    assert set(shown["stacks"][0]) == {"name", "status", "depth", "added_at", "added_by"}
    graph = json.loads(cli("--json", "stack", "deps", "graph", "app-stack").stdout)
    assert set(graph) == {"root", "nodes", "edges", "cycles"}
    checked = json.loads(cli("stack", "deps", "check", "app-stack", "--json").stdout)
    assert set(checked) == {"stack", "ok", "dependencies", "cycles", "missing", "destroyed"}
    ordered = json.loads(cli("stack", "deps", "order", "app-stack", "--json").stdout)
    assert set(ordered) == {"levels", "order", "total", "missing", "destroyed"}


LOADED = ("import sys; from cli.main import app; app({args!r}, standalone_mode=False); "
          "print('networkx' in sys.modules, 'matplotlib' in sys.modules, file=sys.stderr)")


def modules_loaded(db_path: Database, *args: str) -> str:
    import subprocess
    import sys

    code = LOADED.format(args=[*database_args(db_path), *args])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, cwd=Path(__file__).resolve().parents[2])
    return result.stderr.strip().splitlines()[-1]


def test_only_the_commands_that_need_them_import_networkx_and_matplotlib(
        cli: CliRun, db_path: Database, tmp_path: Path) -> None:
    make_stacks(cli)
    assert modules_loaded(db_path, "stack", "list") == "False False"
    assert modules_loaded(db_path, "stack", "show", "app-stack") == "False False"
    assert modules_loaded(db_path, "stack", "deps", "graph", "--all", "--format", "dot") == (
        "True False")
    assert modules_loaded(db_path, "stack", "deps", "graph", "--all", "--output",
                          str(tmp_path / "g.svg")) == "True True"
