"""The workflow engine stays independent of Lua: it runs tasks through a runner it is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.test_architecture import imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_and_plan_import_no_lua_and_no_infrastructure() -> None:
    for path, names in imports("commands").items():
        if path.name.startswith("workflow_"):
            for name in names:
                assert name.split(".")[0] not in {"lupa", "infrastructure", "cli"}, (
                    f"{path.name} imports {name}")


def test_importing_the_engine_does_not_load_lupa() -> None:
    code = "import sys, commands.workflow_engine; print('lupa' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert result.stdout.strip() == "False"
