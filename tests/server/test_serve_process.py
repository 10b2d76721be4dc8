"""`sloth-runner serve` as a real process: listening, TLS, logging, SIGTERM, 50 clients."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import httpx2
import orjson
import pytest

from server.run import Listen, check_listen, is_loopback
from tests.conftest import ProcRun
from tests.server.conftest import lock_body, md5, state_document
from tests.support.serve import make_token, running_server

pytestmark = pytest.mark.slow


def test_sigterm_stops_it_cleanly_after_one_log_line_per_request(db_path: Path) -> None:
    token = make_token(db_path, "ci")
    with running_server(db_path) as server:
        with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}
                           ) as http:
            assert http.post("/api/v1/stacks", json={"name": "app"}).status_code == 201
            assert http.get("/api/v1/stacks/app").status_code == 200
            assert http.get("/api/v1/stacks/ghost").status_code == 404
        assert server.stop() == 0
        log = server.log_text()
    lines = [line for line in log.splitlines() if " /api/v1/" in line]
    assert len(lines) == 3
    assert lines[0].endswith(" ci") and " POST /api/v1/stacks 201 " in lines[0]
    assert " GET /api/v1/stacks/ghost 404 " in lines[2]
    assert "stopped" in log and "Traceback" not in log


def test_it_refuses_a_non_loopback_address_without_tls_and_says_why(proc: ProcRun) -> None:
    result = proc("serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("error: refusing to listen on 0.0.0.0 without TLS")
    assert "--insecure" in result.stderr and len(result.stderr.splitlines()) == 1
    half = proc("serve", "--tls-cert", "cert.pem")
    assert half.returncode == 2 and "--tls-key" in half.stderr


def test_the_listening_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1")
    assert is_loopback("localhost") and not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.org")
    check_listen(Listen(host="0.0.0.0", insecure=True))
    check_listen(Listen(host="::1"))


def test_it_serves_https_with_the_given_certificate(db_path: Path, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    token = make_token(db_path, "ci")
    with running_server(db_path, "--tls-cert", str(cert), "--tls-key", str(key),
                        scheme="https") as server:
        with httpx2.Client(verify=ssl.create_default_context(cafile=str(cert))) as http:
            answer = http.get(f"{server.url}/api/v1/stacks",
                              headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
        with pytest.raises(httpx2.HTTPError):
            httpx2.get(server.url.replace("https", "http") + "/api/v1/stacks", timeout=5)


def test_fifty_clients_pushing_to_fifty_stacks_lose_nothing(db_path: Path) -> None:
    token = make_token(db_path, "ci")
    rounds, clients = 3, 50
    failures: list[str] = []

    def client(number: int, url: str) -> None:
        stack = f"/terraform/stack-{number:02d}"
        try:
            with httpx2.Client(base_url=url, timeout=120,
                               headers={"Authorization": f"Bearer {token}"}) as http:
                for serial in range(1, rounds + 1):
                    lock_id = f"lock-{number}-{serial}"
                    answers = [http.request("LOCK", stack, content=lock_body(lock_id))]
                    data = state_document(serial, greeting=f"{number}-{serial}")
                    answers.append(http.post(f"{stack}?ID={lock_id}", content=data,
                                             headers={"Content-MD5": md5(data)}))
                    answers.append(http.request("UNLOCK", stack, content=lock_body(lock_id)))
                    failures.extend(f"{a.request.method} {stack}: {a.status_code} {a.text}"
                                    for a in answers if a.status_code != 200)
        except Exception as exc:  # reported below, with the others
            failures.append(f"{stack}: {exc!r}")

    with running_server(db_path) as server:
        threads = [threading.Thread(target=client, args=(n, server.url))
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert failures == []
        with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                           timeout=60) as http:
            for number in range(clients):
                name = f"stack-{number:02d}"
                served = orjson.loads(http.get(f"/terraform/{name}").content)
                assert served["serial"] == rounds
                stack = http.get(f"/api/v1/stacks/{name}").json()
                assert stack["outputs"]["greeting"] == f"{number}-{rounds}"
                assert stack["lock_status"] == "UNLOCKED"
                pushed = http.get(f"/api/v1/events?stack={name}&type=terraform.state.pushed")
                assert [e["data"]["serial"] for e in pushed.json()["events"]] == [1, 2, 3]
                snapshots = http.get(f"/api/v1/stacks/{name}/snapshots").json()
                assert snapshots["total"] == rounds
