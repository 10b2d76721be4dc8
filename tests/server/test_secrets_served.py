"""The API and the web pages show a secret as `[secret]`, always: they never reveal one."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator

import pytest

from commands.models import ChangeOutputs, CreateSnapshot, CreateStack, SetValues
from infrastructure.runtime import Runtime
from tests.conftest import Database, settings
from tests.server.conftest import Client, admin

PLAINTEXT = "served-Plain-xyzzy"
ROUTES = ("/api/v1/stacks/app", "/api/v1/stacks/app/state", "/api/v1/stacks/app/state/pw",
          "/api/v1/stacks/app/outputs", "/api/v1/stacks/app/outputs/tok",
          "/api/v1/stacks/app/snapshots/1", "/api/v1/stacks/app/snapshots/compare?from=1&to=2",
          "/api/v1/stacks/app?at_event=3", "/api/v1/stacks/app/history", "/api/v1/events",
          "/api/v1/events/export", "/stacks/app", "/stacks/app?at_event=3", "/events")


@pytest.fixture
def secret_world(db_path: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("SLOTH_RUNNER_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    runtime = Runtime(settings(db_path))
    service = runtime.service()
    service.create_stack(CreateStack(stack="app"), admin())
    service.set_values(SetValues(stack="app", values={"plain": 1},
                                 secrets={"pw": PLAINTEXT}), admin())
    service.change_outputs(ChangeOutputs(stack="app", set_secrets={"tok": PLAINTEXT}), admin())
    service.create_snapshot(CreateSnapshot(stack="app"), admin())
    service.set_values(SetValues(stack="app", secrets={"pw": PLAINTEXT + "-2"}), admin())
    service.create_snapshot(CreateSnapshot(stack="app"), admin())
    runtime.catch_up()
    yield runtime
    runtime.close()


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_shows_secrets_masked(secret_world: Runtime, client: Client,
                                          tokens: Callable[..., str], route: str) -> None:
    answer = client(tokens("ci")).get(route)
    assert answer.status_code == 200, answer.text
    assert PLAINTEXT not in answer.text
    assert "[secret]" in answer.text


def test_the_state_of_the_api_holds_the_mask_in_place_of_the_value(
        secret_world: Runtime, client: Client, tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    assert http.get("/api/v1/stacks/app/state").json() == {"plain": 1, "pw": "[secret]"}
    assert http.get("/api/v1/stacks/app/outputs/tok").json() == "[secret]"
    page = http.get("/stacks/app").text
    assert "[secret]" in page and PLAINTEXT not in page
