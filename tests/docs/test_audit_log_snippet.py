"""The documentation's verifier (Python's standard library only) checks a real database."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import ProcRun

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "en" / "audit-log.md"


def snippet(directory: Path) -> Path:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    assert len(blocks[0].splitlines()) <= 20
    assert re.findall(r"^import (.*)$", blocks[0], flags=re.M) == ["hashlib, sqlite3, struct, sys"]
    script = directory / "verify_chain.py"
    script.write_text(blocks[0])
    return script


@pytest.mark.sqlite_only(reason="the documented verifier reads a SQLite file")
def test_the_documented_verifier_agrees_with_events_verify(proc: ProcRun, db_path: Path,
                                                           tmp_path: Path) -> None:
    script = snippet(tmp_path)
    assert proc("stack", "create", "app").returncode == 0
    assert proc("stack", "state", "set", "app", "a=1", "b=2", "c=3").returncode == 0
    assert proc("stack", "lock", "acquire", "app", "--reason", "release").returncode == 0
    head = proc("events", "verify", "--json").stdout
    done = subprocess.run([sys.executable, str(script), str(db_path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"intact: 5 links, head {__import__('json').loads(head)['head']}"
    with closing(sqlite3.connect(db_path)) as connection, connection:
        connection.execute("UPDATE stored_events SET topic = 'state.deleted' WHERE rowid = 3")
    done = subprocess.run([sys.executable, str(script), str(db_path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 1 and done.stderr.strip() == "broken at position 3"
    assert proc("events", "verify").returncode == 1
