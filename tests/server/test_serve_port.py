"""`sloth-runner serve --port 0`: the system chooses the port, and the first log line names it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess

import httpx2
import pytest

from tests.conftest import SCRIPT, Database, ProcRun, database_env

pytestmark = pytest.mark.slow


def test_port_0_logs_the_port_it_listens_on(db_path: Database, proc: ProcRun) -> None:
    token = json.loads(proc("tokens", "create", "ci", "--json").stdout)["token"]
    server = subprocess.Popen([SCRIPT, "serve", "--port", "0"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **database_env(db_path)})
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        found = re.search(r"sloth-runner serve: http://127\.0\.0\.1:(\d+) ", first)
        assert found, first
        port = int(found.group(1))
        assert port != 0
        answer = httpx2.get(f"http://127.0.0.1:{port}/api/v1/stacks",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def test_a_port_in_use_is_one_line_and_exit_1(proc: ProcRun) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = proc("serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
