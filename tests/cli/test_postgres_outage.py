"""The PostgreSQL server stops while commands run: they end with exit 75 and one line, nothing
is left half-written, and once the server is back the next command heals the read models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCRIPT, event_count, read_model_dump, rows
from tests.support.postgres import PASSWORD, PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# Sets one value after another, each in its own command of the write side, catching the read
# models up after each, until the server goes away; prints how many it set, and why it ended.
WRITER = """
import sys
from commands.models import SetValues
from infrastructure.runtime import Runtime
from infrastructure.settings import Database, settings_for
from tests.conftest import invocation

runtime = Runtime(settings_for(Database(url=sys.argv[1])))
service = runtime.service()
done = 0
print("started", flush=True)
try:
    while True:
        service.set_values(SetValues(stack="burst", values={"n": done, f"k{done}": "x" * 500}),
                           invocation())
        done += 1
        runtime.catch_up()
        print(done, flush=True)
except Exception as exc:
    from cli.errors import exit_code_for
    print("ended", done, int(exit_code_for(exc)), type(exc).__name__, str(exc), flush=True)
"""


def command(url: str, *args: str, actor: str = "ops@x") -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SLOTH_RUNNER_DATABASE_URL": url, "SLOTH_RUNNER_ACTOR": actor}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=environment,
                          timeout=120, check=False)


def test_commands_end_with_exit_75_and_the_next_one_after_a_restart_heals(
        own_postgres_server: PostgresServer) -> None:
    server = own_postgres_server
    database = server.create_database()
    url = server.url(database) + "?connect_timeout=2"
    admin = server.url(database)
    where = f"127.0.0.1:{server.port}/{database}"
    for args in (("stack", "create", "app"), ("stack", "create", "burst"),
                 ("stack", "lock", "acquire", "app")):
        assert command(url, *args, actor="holder@x").returncode == 0

    # Going on when the server goes away: a command waiting for a lock, a burst of writes.
    waiter = subprocess.Popen([SCRIPT, "stack", "lock", "acquire", "app", "--wait", "5m"],
                              env={**os.environ, "SLOTH_RUNNER_DATABASE_URL": url,
                                   "SLOTH_RUNNER_ACTOR": "waiter@x"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiter.stderr is not None
    assert "waiting for the lock on 'app'" in waiter.stderr.readline()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "started"
    while int(writer.stdout.readline().strip()) < 20:
        pass
    server.stop(mode="immediate")

    assert writer.wait(timeout=60) == 0, writer.stderr.read()  # type: ignore[union-attr]
    ended = writer.stdout.read().splitlines()[-1].split(maxsplit=4)
    assert ended[:4] == ["ended", ended[1], "75", "DatabaseUnavailable"], ended
    assert where in ended[4] and PASSWORD not in ended[4]
    assert waiter.wait(timeout=120) == 75
    assert waiter.stderr.read() == f"error: cannot reach PostgreSQL at {where}: Connection refused\n"

    # Every kind of command, while the server is down: exit 75, one line, nothing more.
    for args in (("stack", "list"), ("stack", "state", "set", "app", "a=1"),
                 ("stack", "lock", "acquire", "app"), ("db", "status"), ("events", "list"),
                 ("projections", "rebuild")):
        result = command(url, *args)
        assert result.returncode == 75, (args, result.stderr)
        assert result.stderr == f"error: cannot reach PostgreSQL at {where}: Connection refused\n"
        assert result.stdout == ""

    # Back up: whole writes only; the next reader catches up; a rebuild gives the same rows.
    server.start()
    server.wait_until_accepting()
    written = event_count(admin)
    (burst,), = rows(admin, "SELECT count(*) FROM slothrunner_events WHERE topic = 'state.set'")
    assert isinstance(burst, int) and burst >= 40 and burst % 2 == 0  # two per write, or none
    assert command(url, "stack", "show", "burst", "--json").returncode == 0
    status = command(url, "db", "status", "--json").stdout
    assert '"lag": 0' in status and f'"events": {written}' in status
    incremental = read_model_dump(admin)
    assert command(url, "projections", "rebuild").returncode == 0
    assert read_model_dump(admin) == incremental
    assert command(url, "stack", "state", "set", "burst", "after=restart").returncode == 0
    assert event_count(admin) == written + 1
