"""Loading `.sloth` files and values: every bad input is one line naming the file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cli.errors import exit_code_for
from cli.exit_codes import ExitCode
from domain.workflow import WorkflowInvalid
from infrastructure.lua import loader
from infrastructure.lua.loader import load_workflow
from infrastructure.lua.values import load_values


def _file(tmp_path: Path, text: str, name: str = "wf.sloth") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _refused(path: Path, name: str | None = None) -> str:
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow(path, name=name)
    message = str(caught.value)
    assert "\n" not in message
    assert exit_code_for(caught.value) is ExitCode.USAGE
    return message


TWO = """\
workflow.define("build"):tasks({ task("compile"):command("true") })
workflow.define("deploy"):tasks({ task("ship"):command("true") })
"""


def test_a_workflow_is_chosen_by_name_or_by_being_the_only_one(tmp_path: Path) -> None:
    path = _file(tmp_path, TWO)
    loaded = load_workflow(path, name="deploy")
    assert (loaded.spec.name, loaded.defined) == ("deploy", ("build", "deploy"))
    single = _file(tmp_path, 'workflow.define("only"):tasks({ task("t"):command("true") })',
                   "single.sloth")
    assert load_workflow(single).spec.name == "only"


def test_an_unknown_workflow_name_lists_the_defined_ones(tmp_path: Path) -> None:
    path = _file(tmp_path, TWO)
    assert _refused(path, "deplyo") == f"{path}: no workflow named 'deplyo' (defined: build, deploy)"


def test_two_workflows_and_none_named_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, TWO)
    assert _refused(path) == f"{path}: defines 2 workflows (build, deploy); name the one to run"


def test_a_file_without_workflows_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, "local x = 1\n")
    assert _refused(path) == f"{path}: defines no workflow (use workflow.define)"


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _file(tmp_path, 'local t = task("t")\nlocal = 3\n')
    assert _refused(path) == f"{path}:2: <name> expected near '='"


def test_an_error_at_the_top_level_names_the_line(tmp_path: Path) -> None:
    path = _file(tmp_path, '\n\nlocal t = undefined_helper("x")\n')
    assert _refused(path) == f"{path}:3: attempt to call a nil value (global 'undefined_helper')"


def test_a_dependency_on_an_unknown_task_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        local a = task("a"):command("true")
        local b = task("b")
            :depends_on({ "a", "c" })
            :command("true")
        workflow.define("w"):tasks({ a, b })
    """)
    assert _refused(path) == (f"{path}:2: task 'b' depends on unknown task 'c' "
                              "(tasks of 'w': a, b)")


def test_a_cycle_among_tasks_is_printed(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        workflow.define("w"):tasks({
            task("a"):depends_on("c"):command("true"),
            task("b"):depends_on("a"):command("true"),
            task("c"):depends_on("b"):command("true"),
        })
    """)
    assert _refused(path) == (f"{path}:2: tasks of 'w' depend on each other in a cycle: "
                              "a -> c -> b -> a")


def test_an_unknown_config_key_names_the_config_line(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        workflow.define("w")
            :tasks({ task("t"):command("true") })
            :config({ tmeout = "5m" })
    """)
    assert _refused(path) == (f"{path}:3: unknown config key 'tmeout' (known: timeout, "
                              "require_lock, create_snapshot, rollback_on_failure, "
                              "max_parallel_tasks)")


def test_a_bad_config_value_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        workflow.define("w", { tasks = { task("t"):command("true") },
                               config = { timeout = "30 minutes" } })
    """)
    assert _refused(path) == (f"{path}:1: invalid config timeout '30 minutes': use e.g. 90s, "
                              "30m, 1h, 1h30m, 30d")


def test_a_bad_task_timeout_names_its_line(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        local t = task("t")
            :command("true")
            :timeout("5x")
        workflow.define("w"):tasks({ t })
    """)
    assert _refused(path) == (f"{path}:3: invalid timeout of task 't' '5x': use e.g. 90s, 30m, "
                              "1h, 1h30m, 30d")


@pytest.mark.parametrize(("code", "reason"), [
    ('task("t"):command("true"):retries(2, "random")',
     "3: unknown backoff 'random' (use fixed, linear, exponential)"),
    ('task("t"):command("true"):retries(-1)', "3: task 't': retries must be between 0 and 100, got -1"),
    ('task("t"):command("true"):retries(1.5)', "3: task 't': retries takes a whole number, got 1.5"),
    ('task("t"):command("true"):retries(1, "fixed", "soon")',
     "3: invalid retry delay of task 't' 'soon'"),
    ('task("t")', "3: task 't' has no command (add :command(function(this, params) ... end))"),
    ('task("t"):command(42)', "3: task 't': command must be a function or a shell command string, got 42"),
    ('task("t"):command("true"):depends_on(7)', "3: task 't': depends_on takes a list of task names, got 7"),
    ('task("t"):command("true"):on_success("yes")', "3: task 't': on_success takes a function, got 'yes'"),
    ('task("t"):command("true"):colour("red")',
     "3: task 't' has no method 'colour' (methods: command, depends_on, description, "
     "on_failure, on_success, retries, timeout, build)"),
    ('task("t").command("true")', "3: call task methods with ':', as in task(\"name\"):command(...)"),
    ('task("bad name"):command("true")', "3: invalid task name 'bad name'"),
    ("task()", "3: task(name): the name must be a non-empty string, got nil"),
    ('task("t", { command = "true", timout = "5m" })', "3: task 't': unknown option 'timout'"),
    ('task("t"):command("true"), task("t"):command("false")', "3: workflow 'w' has two tasks named 't'"),
    ('"not a task"', "2: workflow 'w': item 1 of tasks is not a task (got 'not a task')"),
])
def test_dsl_misuse_is_refused_at_its_line(tmp_path: Path, code: str, reason: str) -> None:
    path = _file(tmp_path, f"""\
        -- a workflow with one mistake
        workflow.define("w"):tasks({{
            {code}
        }})
    """)
    assert _refused(path).startswith(f"{path}:{reason}")


def test_a_second_workflow_with_the_same_name_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, 'workflow.define("w")\nworkflow.define("w")\n')
    assert _refused(path) == f"{path}:2: workflow 'w' is already defined at {path}:1"


def test_a_workflow_without_tasks_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, 'workflow.define("w"):description("nothing yet")\n')
    assert _refused(path) == f"{path}:1: workflow 'w' has no tasks"


def test_files_that_cannot_be_read_are_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path / "missing.sloth") == f"workflow file {tmp_path}/missing.sloth: not found"
    assert _refused(tmp_path) == f"workflow file {tmp_path}: is a directory"
    binary = tmp_path / "binary.sloth"
    binary.write_bytes(b"\xff\xfe task")
    assert _refused(binary) == f"workflow file {binary}: not UTF-8 text"


def test_a_top_level_that_never_ends_is_stopped(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    monkeypatch.setattr(loader, "LOAD_TIMEOUT", timedelta(milliseconds=200))
    path = _file(tmp_path, "while true do end\n")
    assert _refused(path) == f"{path}:1: loading the file took longer than 200ms"


def test_values_come_from_the_file_then_the_set_options(tmp_path: Path) -> None:
    values_file = _file(tmp_path, """\
        app:
          image: web
          replicas: 2
        region: eu
        released: 2025-01-02
    """, "values.yaml")
    values = load_values(values_file, ["app.replicas:=5", "region=us", "tags:=[1, 2]",
                                       "new.deep.key=x"])
    assert values == {"app": {"image": "web", "replicas": 5}, "region": "us",
                      "released": "2025-01-02", "tags": [1, 2], "new": {"deep": {"key": "x"}}}
    assert load_values(None, []) == {}


@pytest.mark.parametrize(("item", "reason"), [
    ("replicas", "--set replicas: expected KEY=VALUE or KEY:=JSON, got 'replicas'"),
    ("n:={", "--set n:={: invalid JSON for 'n'"),
    ("a..b=1", "--set a..b=1: 'a..b' has an empty part between dots"),
    ("region.name=x", "--set region.name=x: 'region' is not a table of values"),
    ("=x", "--set =x: invalid value name ''"),
])
def test_bad_set_options_are_refused(tmp_path: Path, item: str, reason: str) -> None:
    values_file = _file(tmp_path, "region: eu\n", "values.yaml")
    with pytest.raises(WorkflowInvalid) as caught:
        load_values(values_file, [item])
    assert str(caught.value).startswith(reason)


def test_a_values_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    values_file = _file(tmp_path, "a: 1\nb: [unclosed\n", "values.yaml")
    with pytest.raises(WorkflowInvalid, match=rf"^values file {values_file}:3: not valid YAML: "):
        load_values(values_file)
    listed = _file(tmp_path, "- a\n- b\n", "list.yaml")
    with pytest.raises(WorkflowInvalid, match="expected a mapping of names to values"):
        load_values(listed)
    with pytest.raises(WorkflowInvalid, match="cannot read"):
        load_values(tmp_path / "nope.yaml")
