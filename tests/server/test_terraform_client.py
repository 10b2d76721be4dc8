"""The Terraform http backend, driven by a real Terraform (0.11.11) against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ProcRun, rows
from tests.support.serve import Server, make_token, running_server, terraform_executable

pytestmark = pytest.mark.slow

CONFIG = """
variable "greeting" { default = "hello" }
output "greeting" { value = "${var.greeting}" }
output "secret" {
  value     = "s3cr3t-${var.greeting}"
  sensitive = true
}
"""

BACKEND = """
terraform {
  backend "http" {
    address        = "%(url)s/terraform/%(stack)s"
    lock_address   = "%(url)s/terraform/%(stack)s"
    unlock_address = "%(url)s/terraform/%(stack)s"
    username       = "ci"
  }
}
"""


class Terraform:
    """A Terraform working directory whose state lives in `serve`."""

    def __init__(self, directory: Path, server: Server, token: str, stack: str = "prod") -> None:
        self.directory = directory
        self.server = server
        self.token = token
        self.stack = stack
        self.executable = terraform_executable()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ".terraformrc").write_text("")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
                    "HOME": str(directory), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
                    "TF_CLI_CONFIG_FILE": str(directory / ".terraformrc")}

    def configure(self, *, backend: bool = True) -> None:
        text = CONFIG + (BACKEND % {"url": self.server.url, "stack": self.stack}
                         if backend else "")
        (self.directory / "main.tf").write_text(text)

    def command(self, *args: str) -> list[str]:
        return [self.executable, *args]

    def run(self, *args: str, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.command(*args), cwd=self.directory, env=self.env,
                                capture_output=True, text=True, input=input, timeout=120,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)}: exit {result.returncode}\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def init(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("init", "-input=false", "-no-color",
                        f"-backend-config=password={self.token}", *extra)

    def apply(self, greeting: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-auto-approve", "-input=false", "-no-color",
                        f"-var=greeting={greeting}", check=check)

    def output(self, name: str) -> str:
        return self.run("output", "-no-color", name).stdout.strip()


@pytest.fixture
def server(db_path: Path) -> Iterator[Server]:
    with running_server(db_path) as running:
        yield running


@pytest.fixture
def terraform(tmp_path: Path, db_path: Path, server: Server) -> Terraform:
    workdir = Terraform(tmp_path / "work", server, make_token(db_path, "ci"))
    workdir.configure()
    workdir.init()
    return workdir


def _json(proc: ProcRun, *args: str) -> dict[str, object]:
    result = proc(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_two_applies_are_two_versions_with_outputs_compare_and_the_token_as_actor(
        terraform: Terraform, proc: ProcRun) -> None:
    terraform.apply("hello")
    terraform.apply("bye")

    assert _json(proc, "stack", "output", "prod") == {"greeting": "bye", "secret": "<sensitive>"}
    shown = proc("stack", "show", "prod").stdout
    assert "s3cr3t" not in shown and "<sensitive>" in shown
    snapshots = _json(proc, "stack", "snapshot", "list", "prod")["snapshots"]
    assert [s["version"] for s in snapshots] == [2, 1]  # type: ignore[index]
    compare = proc("stack", "snapshot", "compare", "prod", "v1", "v2")
    assert compare.returncode == 0
    assert 'greeting: "hello" -> "bye"' in compare.stdout
    assert "serial" in compare.stdout
    events = _json(proc, "events", "list", "--stack", "prod")["events"]
    assert {e["actor"] for e in events} == {"ci"}  # type: ignore[index]
    assert {e["source"] for e in events} == {"terraform"}  # type: ignore[index]
    pushed = [e for e in events if e["type"] == "terraform.state.pushed"]  # type: ignore[index]
    assert [e["data"]["serial"] for e in pushed] == [1, 2]  # type: ignore[index]
    assert all("s3cr3t" not in json.dumps(e) for e in events)  # type: ignore[union-attr]
    history = proc("stack", "history", "prod").stdout
    assert "terraform.state.pushed" in history
    at_first = _json(proc, "stack", "show", "prod", "--at-event", str(pushed[0]["id"] + 2))
    assert at_first["outputs"] == {"greeting": "hello", "secret": "<sensitive>"}


def test_state_pull_is_the_pushed_document(terraform: Terraform, db_path: Path) -> None:
    terraform.apply("hello")
    pulled = terraform.run("state", "pull").stdout
    (pushed,) = [json.loads(str(data)) for (data,) in rows(
        db_path, "SELECT data FROM state_events WHERE event_type = 'terraform.state.pushed'")]
    ((content,),) = rows(db_path, "SELECT content FROM state_documents WHERE sha256 = ?",
                         (pushed["sha256"],))
    assert pulled.strip() == str(content).strip()
    assert json.loads(pulled)["modules"][0]["outputs"]["secret"]["value"] == "s3cr3t-hello"


def test_an_apply_while_another_run_holds_the_lock_is_refused_naming_the_holder(
        terraform: Terraform, proc: ProcRun) -> None:
    terraform.apply("hello")
    # Without resources nothing is slow, but a destroy asks for confirmation while it holds
    # the lock (Terraform locks before it plans): the other run happens in between.
    first = subprocess.Popen(terraform.command("destroy", "-no-color"), cwd=terraform.directory,
                             env=terraform.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lock = _wait_for_lock(proc)
        second = terraform.apply("second", check=False)
        assert second.returncode != 0
        assert "Error locking state" in second.stderr
        assert f"ID={lock['lock_id']}" in second.stderr
        out, err = first.communicate("no\n", timeout=120)
        assert "Destroy cancelled" in out + err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert _json(proc, "stack", "lock", "status", "prod")["status"] == "UNLOCKED"
    terraform.apply("second")
    assert terraform.output("greeting") == "second"
    acquired = _json(proc, "events", "list", "--stack", "prod", "--type", "lock.acquired")
    assert len(acquired["events"]) == 3  # type: ignore[arg-type]


def _wait_for_lock(proc: ProcRun) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _json(proc, "stack", "lock", "status", "prod")
        if status["status"] == "LOCKED":
            return status["lock"]  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError("the first apply never took the lock")


def test_force_unlock_releases_anyones_lock_on_record(terraform: Terraform,
                                                      proc: ProcRun) -> None:
    terraform.apply("hello")
    taken = _json(proc, "stack", "lock", "acquire", "prod", "--locked-by", "deploy-bot",
                  "--reason", "maintenance")
    lock_id = taken["lock"]["lock_id"]  # type: ignore[index]
    refused = terraform.apply("blocked", check=False)
    assert refused.returncode != 0 and lock_id in refused.stderr

    released = terraform.run("force-unlock", "-force", "-no-color", lock_id)
    assert "successfully unlocked" in released.stdout

    assert _json(proc, "stack", "lock", "status", "prod")["status"] == "UNLOCKED"
    forced = _json(proc, "events", "list", "--stack", "prod", "--type", "lock.force_released")
    (event,) = forced["events"]  # type: ignore[misc]
    assert event["actor"] == "ci" and event["data"]["holder"] == "deploy-bot"
    terraform.apply("free")
    assert terraform.output("greeting") == "free"


def test_restore_of_the_first_version_rolls_terraform_back(terraform: Terraform,
                                                           proc: ProcRun) -> None:
    terraform.apply("hello")
    terraform.apply("bye")
    assert terraform.output("greeting") == "bye"

    restored = proc("stack", "snapshot", "restore", "prod", "v1", "--yes")
    assert restored.returncode == 0, restored.stderr

    assert terraform.output("greeting") == "hello"
    pulled = json.loads(terraform.run("state", "pull").stdout)
    assert pulled["serial"] == 3
    assert _json(proc, "stack", "output", "prod")["greeting"] == "hello"
    # Terraform takes the restored state as its own and goes on from it.
    terraform.apply("again")
    assert terraform.output("greeting") == "again"
    assert json.loads(terraform.run("state", "pull").stdout)["serial"] == 4


def test_migrating_local_state_into_serve(tmp_path: Path, db_path: Path, server: Server,
                                          proc: ProcRun) -> None:
    workdir = Terraform(tmp_path / "local", server, make_token(db_path, "ci"), stack="moved")
    workdir.configure(backend=False)
    workdir.run("init", "-input=false", "-no-color")
    workdir.apply("local")
    assert (workdir.directory / "terraform.tfstate").is_file()

    workdir.configure(backend=True)
    # Terraform 0.11 copies the state on `init -force-copy` (1.x: `init -migrate-state`).
    moved = workdir.init("-force-copy")
    assert "Successfully configured the backend" in moved.stdout

    assert _json(proc, "stack", "output", "moved")["greeting"] == "local"
    assert workdir.output("greeting") == "local"
    workdir.apply("remote")
    assert _json(proc, "stack", "output", "moved")["greeting"] == "remote"
