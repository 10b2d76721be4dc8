"""`serve`: terraform apply against it vs a minimal in-memory backend, REST latency, 10 MB push."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.common import SCRIPT, Figure, environment, figure, ms, workdir

CONFIG = """
variable "greeting" { default = "hello" }
output "greeting" { value = "${var.greeting}" }
output "shout" { value = "${upper(var.greeting)}" }
"""
BACKEND = """
terraform {
  backend "http" {
    address        = "%(url)s"
    lock_address   = "%(url)s"
    unlock_address = "%(url)s"
    username       = "bench"
    password       = "%(token)s"
  }
}
"""


class MemoryBackend(BaseHTTPRequestHandler):
    """The least a Terraform http backend can be: one state and one lock, in memory."""

    state: bytes | None = None
    lock: bytes | None = None
    guard = threading.Lock()

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        with self.guard:
            state = MemoryBackend.state
        self._answer(200, state) if state else self._answer(404)

    def do_POST(self) -> None:
        body = self._body()
        with self.guard:
            MemoryBackend.state = body
        self._answer(200)

    def do_LOCK(self) -> None:
        body = self._body()
        with self.guard:
            if MemoryBackend.lock is not None:
                self._answer(423, MemoryBackend.lock)
                return
            MemoryBackend.lock = body
        self._answer(200)

    def do_UNLOCK(self) -> None:
        self._body()
        with self.guard:
            MemoryBackend.lock = None
        self._answer(200)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _terraform() -> str:
    return str(importlib.import_module("terraform").TERRAFORM_EXECUTABLE)


def _start_serve(db: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "SLOTH_RUNNER_DB": str(db)}
    made = subprocess.run([SCRIPT, "tokens", "create", "bench", "--json"], env=env,
                          capture_output=True, check=True)
    import json

    token = json.loads(made.stdout)["token"]
    port = _free_port()
    server = subprocess.Popen([SCRIPT, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}", token
        time.sleep(0.05)
    raise RuntimeError("serve did not start")


def _terraform_version() -> str:
    """`Terraform 0.11.11`, from `terraform version`'s first line (`Terraform v0.11.11`)."""
    printed = subprocess.run([_terraform(), "version"], capture_output=True, text=True,
                             check=True, env={**os.environ, "CHECKPOINT_DISABLE": "1"})
    return printed.stdout.splitlines()[0].replace(" v", " ", 1)


def _workdir(directory: Path, url: str, token: str) -> Path:
    directory.mkdir()
    (directory / "main.tf").write_text(CONFIG + BACKEND % {"url": url, "token": token})
    subprocess.run([_terraform(), "init", "-input=false", "-no-color"], cwd=directory,
                   env=_tf_env(directory), check=True, capture_output=True)
    return directory


def _tf_env(directory: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
            "HOME": str(directory), "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}


def applies(quick: bool) -> None:
    runs = 5 if quick else 15
    root = workdir()
    memory = ThreadingHTTPServer(("127.0.0.1", 0), MemoryBackend)
    threading.Thread(target=memory.serve_forever, daemon=True).start()
    server, url, token = _start_serve(root / "stacks.db")
    try:
        ours = _workdir(root / "serve", f"{url}/terraform/bench", token)
        floor = _workdir(root / "memory",
                         f"http://127.0.0.1:{memory.server_address[1]}/state", "none")
        samples: dict[str, list[float]] = {"serve": [], "memory": []}
        for run in range(runs):
            for name, directory in (("serve", ours), ("memory", floor)):
                started = time.perf_counter()
                subprocess.run([_terraform(), "apply", "-auto-approve", "-input=false",
                                "-no-color", f"-var=greeting=run{run}"], cwd=directory,
                               env=_tf_env(directory), check=True, capture_output=True)
                samples[name].append(time.perf_counter() - started)
        environment(_terraform_version())
        ours_s, floor_s = (statistics.median(samples[side]) for side in ("serve", "memory"))
        figure(Figure("`terraform apply` of a configuration with outputs only (init once; LOCK, "
                      f"GET, POST, UNLOCK per apply), median of {runs}, whole Terraform process",
                      ms(ours_s), "the same against a minimal in-memory http backend written "
                      f"in the benchmark (one dict, nothing durable): {ms(floor_s)}",
                      ours_s / floor_s, "<= 1.2x", ours_s / floor_s <= 1.2))
        latency(url, token, quick)
        push_10mb(url, token, quick)
    finally:
        memory.shutdown()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def latency(url: str, token: str, quick: bool) -> None:
    import httpx2

    headers = {"Authorization": f"Bearer {token}"}
    per_client, clients = (50 if quick else 200), 16
    timings: list[float] = []
    guard = threading.Lock()

    def client() -> None:
        mine = []
        with httpx2.Client(base_url=url, headers=headers) as http:
            for _ in range(per_client):
                started = time.perf_counter()
                answer = http.get("/api/v1/stacks/bench")
                mine.append(time.perf_counter() - started)
                assert answer.status_code == 200
        with guard:
            timings.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    timings.sort()
    p50 = timings[len(timings) // 2]
    p99 = timings[int(len(timings) * 0.99)]
    figure(Figure(f"REST `GET /api/v1/stacks/NAME`, {clients} concurrent clients, "
                  f"{len(timings):,} requests",
                  f"p50 {ms(p50, 1)}, p99 {ms(p99, 1)} ({len(timings) / elapsed:,.0f} requests/s)"))


def push_10mb(url: str, token: str, quick: bool) -> None:
    import httpx2
    import orjson

    filler = {f"null_resource.r{i}": {"type": "null_resource", "provider": "provider.null",
                                      "primary": {"id": str(i), "attributes": {
                                          "payload": hashlib.sha256(str(i).encode()).hexdigest()
                                          * 4}}}
              for i in range(33_000)}
    samples = []
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                       timeout=120) as http:
        pushes = 3 if quick else 7
        for serial in range(1, pushes + 1):
            document = orjson.dumps({"version": 3, "serial": serial, "lineage": "bench-10mb",
                                     "terraform_version": "0.11.11", "modules": [
                                         {"path": ["root"], "outputs": {},
                                          "resources": filler}]})
            md5 = base64.b64encode(hashlib.md5(document).digest()).decode()
            started = time.perf_counter()
            answer = http.post("/terraform/big", content=document,
                               headers={"Content-MD5": md5})
            samples.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    figure(Figure(f"`POST /terraform/NAME` of a {len(document) / 1e6:.1f} MB state document with "
                  f"{len(filler):,} resources, median of {pushes} (the first declares "
                  f"{len(filler):,} `terraform` resources; the later ones change none)",
                  ms(statistics.median(samples))))


def run(quick: bool = False) -> None:
    applies(quick)
