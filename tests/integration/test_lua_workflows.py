"""`.sloth` workflows end to end: the DSL, the modules, Lua errors, timeouts and hooks."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from commands.workflow_engine import RunListener, WorkflowEngine
from domain.workflow import Backoff, LogLevel, RunResult, RunStatus, TaskStatus, WorkflowInvalid
from infrastructure.lua.host import MemoryHost
from infrastructure.lua.loader import LoadedWorkflow, load_workflow


def _file(tmp_path: Path, text: str, name: str = "wf.sloth") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _run(loaded: LoadedWorkflow, host: MemoryHost | None = None, parallel: int = 4,
         **options: Any) -> RunResult:
    host = host or MemoryHost()
    engine = WorkflowEngine(loaded.spec, loaded.runner(host), default_parallel=parallel,
                            on_complete=loaded.completion(host), **options)
    return engine.run()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited already
        return stat.read().split()[2] != "Z"


SPEC_EXAMPLE = (Path(__file__).parent.parent / "fixtures" / "production_deploy.sloth").read_text()
"""The Workflow DSL Integration example of the specification, with `exec.run` given a command
that exists."""


def test_the_documented_example_runs_as_written(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, SPEC_EXAMPLE))
    spec = loaded.spec
    assert (spec.name, spec.description, spec.version) == (
        "production_deploy", "Production deployment with locking", "2.0.0")
    assert spec.config.require_lock and spec.config.create_snapshot
    assert spec.config.timeout is not None and spec.config.timeout.total_seconds() == 1800
    assert spec.tasks[0].description == "Deploy application with state management"
    host = MemoryHost()
    result = _run(loaded, host)
    assert result.status is RunStatus.SUCCEEDED
    assert result.task("deploy_app").message == "Deployment successful"
    assert host.values["deployment_version"] == "v2.0.0"
    assert abs(host.values["deployed_at"] - time.time()) < 60


def test_the_table_forms_define_the_same_things(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        local build = task("build", {
            description = "compile",
            command = function() return true, "built", { artifact = "app.tar" } end,
            timeout = "2m",
            retries = 2, backoff = "linear", retry_delay = 5,
        })
        workflow.define("ship", {
            description = "build and publish",
            version = 3,
            tasks = {
                build,
                { name = "publish", depends_on = { "build" },
                  command = function(this, params)
                      return true, "published " .. this.inputs.build.artifact
                  end },
            },
            config = { max_parallel_tasks = 2, rollback_on_failure = true },
        })
    """))
    spec = loaded.spec
    assert (spec.description, spec.version, spec.config.max_parallel_tasks) == (
        "build and publish", "3", 2)
    build = spec.task("build")
    assert (build.description, build.retries, build.backoff, build.retry_delay.total_seconds(),
            build.timeout and build.timeout.total_seconds()) == (
        "compile", 2, Backoff.LINEAR, 5.0, 120.0)
    assert spec.task("publish").depends_on == ("build",)
    result = _run(loaded)
    assert result.task("build").outputs == {"artifact": "app.tar"}
    assert result.task("publish").message == "published app.tar"


def test_a_command_function_gets_this_and_params(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({
            task("report"):description("says who it is"):command(function(this, params)
                return true, string.format("%s/%s attempt %d of %d in %s for %s",
                    this.name, this.description, this.attempt, this.max_attempts, this.workflow,
                    params.env)
            end):retries(1)
        })
    """), values={"env": "prod"})
    result = _run(loaded)
    assert result.task("report").message == "report/says who it is attempt 1 of 2 in w for prod"


@pytest.mark.parametrize(("body", "status", "message", "outputs"), [
    ("", TaskStatus.SUCCEEDED, "", {}),
    ("return true", TaskStatus.SUCCEEDED, "", {}),
    ("return true, 'ok', { n = 1, list = { 'a', 'b' }, nested = { x = true } }",
     TaskStatus.SUCCEEDED, "ok", {"n": 1, "list": ["a", "b"], "nested": {"x": True}}),
    ("return false, 'disk full'", TaskStatus.FAILED, "disk full", {}),
    ("return false", TaskStatus.FAILED, "the task returned false", {}),
    ("return nil, 'not found'", TaskStatus.FAILED, "not found", {}),
    ("return true, 'x', { 1, 2 }", TaskStatus.FAILED,
     "the task's outputs must be a table of name = value", {}),
    ("return true, 'x', { f = print }", TaskStatus.FAILED,
     "the task's outputs: a function is not data (use strings, numbers, booleans and tables)", {}),
])
def test_what_a_command_function_returns(tmp_path: Path, body: str, status: TaskStatus,
                                         message: str, outputs: dict[str, Any]) -> None:
    loaded = load_workflow(_file(tmp_path, f"""\
        workflow.define("w"):tasks({{ task("t"):command(function() {body} end) }})
    """))
    result = _run(loaded).task("t")
    assert (result.status, result.message, result.outputs) == (status, message, outputs)


def test_a_lua_error_fails_the_task_with_its_file_and_line(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        local t = task("t"):command(function()
            local config = nil
            return config.replicas
        end)
        workflow.define("w"):tasks({ t })
    """)
    result = _run(load_workflow(path)).task("t")
    assert result.status is TaskStatus.FAILED
    assert result.message == f"{path}:3: attempt to index a nil value (local 'config')"
    assert result.location == f"{path}:3"
    assert result.error == result.message


def test_an_error_raised_by_a_module_points_at_the_calling_line(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        workflow.define("w"):tasks({ task("t"):command(function()
            state.set("ok", 1)
            state.set("bad key!", 1)
        end) })
    """)
    result = _run(load_workflow(path)).task("t")
    assert result.message.startswith(f"{path}:3: state.set: invalid key 'bad key!'")
    assert result.location == f"{path}:3"


def test_state_and_stack_modules_go_through_the_host(tmp_path: Path) -> None:
    host = MemoryHost(name="prod", status="active", values={"old": "x", "count": 1},
                      outputs={"url": "https://old"})
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({ task("t"):command(function()
            state.set("config", { replicas = 3, zones = { "a", "b" } })
            assert(state.get("config").zones[2] == "b")
            assert(state.get("missing") == nil and state.get("missing", "dflt") == "dflt")
            assert(state.exists("old") and not state.exists("missing"))
            assert(state.delete("old") and not state.delete("old"))
            assert(state.increment("count") == 2 and state.increment("count", 5) == 7)
            assert(state.increment("fresh", 0.5) == 0.5)
            local keys = state.keys()
            stack.set_output("endpoint", stack.name() .. ":" .. stack.status())
            return true, table.concat(keys, ","), { url = stack.get_output("url"),
                nothing = stack.get_output("none", "none") }
        end) })
    """))
    result = _run(loaded, host).task("t")
    assert result.status is TaskStatus.SUCCEEDED, result.message
    assert result.message == "config,count,fresh"
    assert result.outputs == {"url": "https://old", "nothing": "none"}
    assert host.values == {"config": {"replicas": 3, "zones": ["a", "b"]}, "count": 7,
                           "fresh": 0.5}
    assert host.outputs == {"url": "https://old", "endpoint": "prod:active"}


@pytest.mark.parametrize(("call", "reason"), [
    ("state.set('k')", "state.set: needs a value (use state.delete to remove a key)"),
    ("state.set(1, 'v')", "state.set: the key must be a string, got a number"),
    ("state.set('k', print)", "state.set: a function is not data"),
    ("local t = {}; t.self = t; state.set('k', t)",
     "state.set: tables are nested deeper than 64 levels (or a table contains itself)"),
    ("state.increment('k', 'x')", "state.increment: increments by a number, got a string"),
    ("data.from_json('{')", "data.from_json: not valid JSON"),
    ("exec.run('')", "exec.run: the command is empty"),
    ("exec.run({})", "exec.run: takes a shell command string or a list of arguments"),
    ("exec.run('true', { tiemout = 1 })", "exec.run: unknown option 'tiemout'"),
    ("exec.run('true', { timeout = 'soon' })", "exec.run: invalid exec.run timeout 'soon'"),
])
def test_module_misuse_fails_the_task_with_a_reason(tmp_path: Path, call: str, reason: str) -> None:
    loaded = load_workflow(_file(tmp_path, f"""\
        workflow.define("w"):tasks({{ task("t"):command(function() {call} end) }})
    """))
    result = _run(loaded).task("t")
    assert result.status is TaskStatus.FAILED
    assert f"wf.sloth:1: {reason}" in result.message


def test_data_converts_json_both_ways(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({ task("t"):command(function()
            local text = data.to_json({ b = { 1, 2 }, a = "x", c = true })
            local back = data.from_json('{"n": 1.5, "list": [1, "two"], "obj": {}}')
            return true, text, { n = back.n, second = back.list[2], obj = back.obj }
        end) })
    """))
    result = _run(loaded).task("t")
    assert result.message == '{"a":"x","b":[1,2],"c":true}'
    assert result.outputs == {"n": 1.5, "second": "two", "obj": {}}


def test_logs_and_print_go_to_the_listener_and_the_result(tmp_path: Path) -> None:
    heard: list[tuple[str | None, str, str]] = []

    class Listener(RunListener):
        def log(self, task: str | None, line: Any) -> None:
            heard.append((task, line.level.value, line.message))

    loaded = load_workflow(_file(tmp_path, """\
        print("loading")
        workflow.define("w"):tasks({ task("t"):command(function()
            log.debug("d", 1)
            log.info("i")
            log.warn("w", true)
            log.error("e", nil)
            print("p", 2.5)
        end) })
    """))
    assert [line.message for line in loaded.load_log] == ["loading"]
    result = _run(loaded, listener=Listener())
    expected = [("debug", "d 1"), ("info", "i"), ("warn", "w true"), ("error", "e nil"),
                ("info", "p 2.5")]
    assert heard == [("t", level, message) for level, message in expected]
    assert [(line.level.value, line.message) for line in result.task("t").logs] == expected


def test_exec_run_a_string_uses_the_shell_and_a_list_does_not(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({ task("t"):command(function(this, params)
            local shell = exec.run("echo $MARK; echo oops >&2; exit 3", { env = { MARK = "m1" } })
            local argv = exec.run({ "echo", "$MARK", 42 }, { env = { MARK = "m2" } })
            local where = exec.run("pwd", { workdir = params.dir })
            return true, "", {
                shell = { shell.success, shell.stdout, shell.stderr, shell.exit_code },
                argv = { argv.success, argv.stdout, argv.exit_code },
                pwd = where.stdout, took = shell.duration >= 0 and shell.timed_out == false,
            }
        end) })
    """), values={"dir": str(tmp_path)})
    outputs = _run(loaded).task("t").outputs
    assert outputs["shell"] == [False, "m1\n", "oops\n", 3]
    assert outputs["argv"] == [True, "$MARK 42\n", 0]
    assert outputs["pwd"] == f"{tmp_path}\n"
    assert outputs["took"] is True


def test_exec_run_of_a_missing_program_reports_exit_127(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({ task("t"):command(function()
            local r = exec.run({ "no-such-program-anywhere" })
            return true, r.stderr, { code = r.exit_code, ok = r.success }
        end) })
    """))
    result = _run(loaded).task("t")
    assert result.outputs == {"code": 127, "ok": False}
    assert result.message == "cannot run 'no-such-program-anywhere': No such file or directory"


def test_exec_run_own_timeout_kills_the_command_and_returns(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    loaded = load_workflow(_file(tmp_path, f"""\
        workflow.define("w"):tasks({{ task("t"):command(function()
            local r = exec.run("echo $$ > {pid_file}; exec sleep 1000", {{ timeout = 0.3 }})
            return true, "", {{ timed_out = r.timed_out, ok = r.success, code = r.exit_code }}
        end) }})
    """))
    started = time.monotonic()
    result = _run(loaded).task("t")
    assert time.monotonic() - started < 3
    assert result.outputs == {"timed_out": True, "ok": False, "code": 143}
    assert not _alive(int(pid_file.read_text()))


def test_the_task_timeout_kills_a_running_command_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    path = _file(tmp_path, f"""\
        workflow.define("w"):tasks({{
            task("t"):timeout("300ms"):command(function()
                exec.run("sleep 1000 & echo $! > {pid_file}; wait")
                return true
            end)
        }})
    """)
    started = time.monotonic()
    result = _run(load_workflow(path)).task("t")
    assert time.monotonic() - started < 3
    assert result.status is TaskStatus.TIMED_OUT
    assert result.message == f"{path}:3: timed out after 300ms"
    assert not _alive(int(pid_file.read_text()))


def test_an_endless_lua_loop_is_stopped_by_the_task_timeout(tmp_path: Path) -> None:
    path = _file(tmp_path, """\
        workflow.define("w"):tasks({
            task("spin"):timeout("200ms"):command(function()
                local n = 0
                while true do n = n + 1 end
            end)
        })
    """)
    started = time.monotonic()
    result = _run(load_workflow(path)).task("spin")
    assert time.monotonic() - started < 3
    assert result.status is TaskStatus.TIMED_OUT
    assert result.message == f"{path}:4: timed out after 200ms"


def test_the_workflow_timeout_stops_lua_and_commands(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):config({ timeout = "400ms" }):tasks({
            task("spin"):command(function() while true do end end),
            task("sleep"):command("sleep 1000"),
            task("later"):depends_on({ "spin" }):command(function() return true end),
        })
    """))
    started = time.monotonic()
    result = _run(loaded)
    assert time.monotonic() - started < 4
    assert result.status is RunStatus.TIMED_OUT
    assert {task.name: task.status for task in result.tasks} == {
        "spin": TaskStatus.TIMED_OUT, "sleep": TaskStatus.TIMED_OUT, "later": TaskStatus.SKIPPED}


def test_string_commands_run_through_the_shell(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({
            task("good"):command("echo one; echo two"),
            task("bad"):command("echo partial; echo 'no space left' >&2; exit 4"),
        })
    """))
    result = _run(loaded)
    good, bad = result.task("good"), result.task("bad")
    assert (good.status, good.message, good.outputs) == (
        TaskStatus.SUCCEEDED, "exit 0", {"exit_code": 0, "stdout": "one\ntwo\n"})
    assert [line.message for line in good.logs if line.level is LogLevel.INFO] == ["one", "two"]
    assert (bad.status, bad.message) == (TaskStatus.FAILED, "exit 4: no space left")


def test_independent_lua_tasks_run_their_commands_in_parallel(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        local tasks = {}
        for i = 1, 3 do
            tasks[i] = task("sleep" .. i):command(function()
                return exec.run("sleep 0.5").success
            end)
        end
        workflow.define("w"):tasks(tasks)
    """))
    result = _run(loaded, parallel=3)
    assert result.succeeded
    latest_start = max(task.started_at or 0 for task in result.tasks)
    earliest_end = min(task.finished_at or 0 for task in result.tasks)
    assert latest_start < earliest_end


def test_retries_run_the_task_again_in_a_fresh_interpreter(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        attempts_seen = 0
        workflow.define("w"):tasks({
            task("flaky"):retries(3, "exponential", "10ms"):command(function(this)
                attempts_seen = attempts_seen + 1
                local n = state.increment("tries")
                if n < 3 then error("not yet (" .. n .. ")") end
                return true, "globals start fresh: " .. attempts_seen
            end)
        })
    """))
    host = MemoryHost()
    result = _run(loaded, host).task("flaky")
    assert (result.status, result.attempts, result.message) == (
        TaskStatus.SUCCEEDED, 3, "globals start fresh: 1")
    assert host.values["tries"] == 3


def test_on_success_and_on_failure_hooks_run_once_at_the_end(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w"):tasks({
            task("good"):command(function() return true, "fine", { v = 1 } end)
                :on_success(function(this, params, outputs)
                    state.set("good_hook", this.name .. outputs.v)
                end),
            task("bad"):retries(2, "fixed", "1ms"):command(function() return false, "broken" end)
                :on_failure(function(this, params, message)
                    state.increment("bad_hooks")
                    state.set("bad_message", message .. " at attempt " .. this.attempt)
                end),
            task("hook_breaks"):command(function() return true end)
                :on_success(function() error("hook broke") end),
        })
    """))
    host = MemoryHost()
    result = _run(loaded, host)
    assert host.values == {"good_hook": "good1", "bad_hooks": 1,
                           "bad_message": "broken at attempt 3"}
    broken = result.task("hook_breaks")
    assert broken.status is TaskStatus.FAILED
    assert broken.message == "on_success failed: " + str(loaded.path) + ":12: hook broke"


def test_on_complete_receives_the_outcome(tmp_path: Path) -> None:
    loaded = load_workflow(_file(tmp_path, """\
        workflow.define("w", {
            tasks = {
                task("a"):command(function() return true, "done", { n = 2 } end),
                task("b"):command(function() return false, "nope" end),
            },
            on_complete = function(success, result)
                state.set("summary", {
                    success = success, status = result.status,
                    a = result.tasks.a.outputs.n, b = result.tasks.b.message,
                })
                log.info("finished " .. result.workflow)
            end,
        })
    """))
    host = MemoryHost()
    result = _run(loaded, host)
    assert host.values["summary"] == {"success": False, "status": "failed", "a": 2, "b": "nope"}
    assert [line.message for line in result.logs] == ["finished w"]


def test_loading_the_file_has_no_effects(tmp_path: Path) -> None:
    for call, name in (("state.set('x', 1)", "state.set"), ("exec.run('true')", "exec.run"),
                       ("stack.name()", "stack.name")):
        path = _file(tmp_path, f"""\
            {call}
            workflow.define("w"):tasks({{ task("t"):command("true") }})
        """)
        with pytest.raises(WorkflowInvalid, match=rf"^{path}:1: {name}: only available while a "
                                                  "task runs, not while the file loads$"):
            load_workflow(path)
