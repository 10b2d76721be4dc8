"""Ctrl-C (SIGINT) stops a real process running a workflow: Lua loops, commands and loading."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUN = """\
import sys
from pathlib import Path
from commands.workflow_engine import RunListener, WorkflowEngine
from infrastructure.lua.host import MemoryHost
from infrastructure.lua.loader import load_workflow

class Progress(RunListener):
    def task_started(self, name, attempt):
        print("started", name, flush=True)

print("loading", flush=True)
try:
    loaded = load_workflow(Path(sys.argv[1]))
except KeyboardInterrupt:
    print("interrupted while loading", flush=True)
    sys.exit(130)
engine = WorkflowEngine(loaded.spec, loaded.runner(MemoryHost()), default_parallel=4,
                        listener=Progress())
result = engine.run()
for task in result.tasks:
    print(task.name, task.status.value, task.message, flush=True)
print("run", result.status.value, flush=True)
sys.exit(130 if result.status.value == "interrupted" else 0)
"""


def _start(workflow: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, str(workflow)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_lines(process: subprocess.Popen[str], wanted: set[str]) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    while not wanted <= set(seen):
        line = process.stdout.readline()
        assert line, f"the run ended early: {seen} {process.stderr.read() if process.stderr else ''}"
        seen.append(line.strip())
    return seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_ctrl_c_stops_lua_loops_and_kills_commands(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    workflow = tmp_path / "wf.sloth"
    workflow.write_text(textwrap.dedent(f"""\
        workflow.define("w"):tasks({{
            task("sleeper"):command(function()
                exec.run("echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 1000")
                return true
            end),
            task("spinner"):command(function() while true do end end),
            task("later"):depends_on("sleeper"):command("true"),
        }})
    """))
    process = _start(workflow)
    try:
        _wait_for_lines(process, {"started sleeper", "started spinner"})
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        child = int(pid_file.read_text())
        assert _alive(child)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 130, err
    lines = out.splitlines()
    assert f"sleeper failed {workflow}:3: interrupted" in lines
    assert f"spinner failed {workflow}:6: interrupted" in lines
    assert "later skipped not started: interrupted" in lines
    assert "run interrupted" in lines
    assert "Traceback" not in err
    assert not _alive(child)


def test_ctrl_c_while_the_file_loads_stops_loading(tmp_path: Path) -> None:
    workflow = tmp_path / "wf.sloth"
    workflow.write_text("while true do end\n")
    process = _start(workflow)
    try:
        _wait_for_lines(process, {"loading"})
        time.sleep(0.3)  # let the interpreter enter the loop; a signal before it is handled too
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted while loading" in out
