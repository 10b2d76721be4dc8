"""The HTTP front door in-process: starlette's TestClient over the real app and database."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from commands.tokens import CreateToken
from domain.invocation import Invocation, Source
from infrastructure.runtime import Runtime
from server.app import ServerOptions, build_app
from tests.conftest import settings as settings_of

Client = Callable[..., TestClient]


def admin() -> Invocation:
    return Invocation(actor="admin@host", source=Source.CLI, correlation_id=str(uuid.uuid4()),
                      at=datetime.now(UTC))


@pytest.fixture
def tokens(db_path: Path) -> Callable[..., str]:
    """Make a token (as `sloth-runner tokens create` does) and return its secret."""

    def make(name: str, *, read_only: bool = False, stacks: tuple[str, ...] = ()) -> str:
        runtime = Runtime(settings_of(db_path))
        try:
            made = runtime.tokens().create(
                CreateToken(name=name, read_only=read_only, stacks=list(stacks)), admin())
            runtime.catch_up()
        finally:
            runtime.close()
        return made.secret

    return make


@pytest.fixture
def client(db_path: Path) -> Iterator[Client]:
    """A TestClient for an app on the test database; `token=` authenticates it."""
    made: list[tuple[TestClient, Any]] = []

    def make(token: str | None = None, **options: Any) -> TestClient:
        app = build_app(ServerOptions(settings_of(db_path), **options))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        test_client = TestClient(app, headers=headers, raise_server_exceptions=False)
        test_client.__enter__()
        made.append((test_client, app))
        return test_client

    yield make
    for test_client, app in made:
        test_client.__exit__(None, None, None)
        app.state.runtimes.close()


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def state_document(serial: int, *, lineage: str = "lineage-1", greeting: str = "hello",
                   padding: str = "") -> bytes:
    """A Terraform 0.11 state document with two outputs (one sensitive) and a resource."""
    document = {
        "version": 3, "terraform_version": "0.11.11", "serial": serial, "lineage": lineage,
        "modules": [{
            "path": ["root"],
            "outputs": {"greeting": {"sensitive": False, "type": "string", "value": greeting},
                        "password": {"sensitive": True, "type": "string", "value": "hunter2"}},
            "resources": {"null_resource.web.0": {"type": "null_resource",
                                                  "provider": "provider.null",
                                                  "primary": {"id": "1", "attributes": {
                                                      "padding": padding}}},
                          "null_resource.web.1": {"type": "null_resource",
                                                  "provider": "provider.null",
                                                  "primary": {"id": "2", "attributes": {}}}},
            "depends_on": []}]}
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def lock_body(lock_id: str, who: str = "alice@laptop") -> bytes:
    return orjson.dumps({"ID": lock_id, "Operation": "OperationTypeApply", "Info": "",
                         "Who": who, "Version": "0.11.11",
                         "Created": "2026-11-29T10:00:00Z", "Path": ""})
