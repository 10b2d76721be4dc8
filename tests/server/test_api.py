"""The REST API: every endpoint, its errors, and who may call it (in-process)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from server import api
from server.openapi import document, markdown
from tests.conftest import event_count
from tests.conftest import settings as settings_of
from tests.server.conftest import Client

ROOT = Path(__file__).resolve().parents[2]
V1 = "/api/v1"


def _concrete(path: str) -> str:
    """A route's path with its parameters filled in."""
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: {"stack": "app", "key": "k",
                                                   "version": "1"}[m.group(1)], V1 + path)


@pytest.fixture
def http(client: Client, tokens: Callable[..., str]) -> object:
    return client(tokens("ci"))


def test_stacks_create_list_show_history_and_destroy(http: object) -> None:
    c = http
    created = c.post(f"{V1}/stacks", json={"name": "app", "description": "the app",  # type: ignore[attr-defined]
                                           "depends_on": ["db"]})
    assert created.status_code == 201
    assert created.json()["events"] == ["stack.created", "stack.dependency.added"]
    listed = c.get(f"{V1}/stacks").json()  # type: ignore[attr-defined]
    assert [s["name"] for s in listed["stacks"]] == ["app"] and listed["total"] == 1
    shown = c.get(f"{V1}/stacks/app").json()  # type: ignore[attr-defined]
    assert shown["description"] == "the app" and shown["lock_status"] == "UNLOCKED"
    assert shown["created_by"] == "ci"
    history = c.get(f"{V1}/stacks/app/history?limit=1").json()  # type: ignore[attr-defined]
    assert [h["kind"] for h in history["history"]] == ["stack.dependency.added"]
    first = c.get(f"{V1}/stacks/app/history").json()["history"][-1]["event_id"]  # type: ignore[attr-defined]
    past = c.get(f"{V1}/stacks/app?at_event={first}").json()  # type: ignore[attr-defined]
    assert past["stream_version"] == 1 and past["name"] == "app"
    assert c.delete(f"{V1}/stacks/app?reason=done").json()["events"] == ["stack.destroyed"]  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks").json()["total"] == 0  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks?all=true").json()["stacks"][0]["status"] == "destroyed"  # type: ignore[attr-defined]


def test_state_values_and_outputs(http: object) -> None:
    c = http
    c.post(f"{V1}/stacks", json={"name": "app"})  # type: ignore[attr-defined]
    assert c.patch(f"{V1}/stacks/app/state", json={"set": {"replicas": 3, "v": "x"}}  # type: ignore[attr-defined]
                   ).json()["changed"] == ["replicas", "v"]
    assert c.get(f"{V1}/stacks/app/state").json() == {"replicas": 3, "v": "x"}  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/state/replicas").json() == 3  # type: ignore[attr-defined]
    assert c.patch(f"{V1}/stacks/app/state", json={"unset": ["v"]}).json()["deleted"] == ["v"]  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/state/v").status_code == 404  # type: ignore[attr-defined]
    both = c.patch(f"{V1}/stacks/app/state", json={"set": {"a": 1}, "unset": ["b"]})  # type: ignore[attr-defined]
    assert both.status_code == 422
    changed = c.patch(f"{V1}/stacks/app/outputs", json={"set": {"url": "https://x/a"}})  # type: ignore[attr-defined]
    assert changed.json()["changed"] == ["url"]
    assert c.get(f"{V1}/stacks/app/outputs").json() == {"url": "https://x/a"}  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/outputs/url").json() == "https://x/a"  # type: ignore[attr-defined]
    assert c.patch(f"{V1}/stacks/app/outputs", json={"unset": ["url"]}).status_code == 200  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/outputs/url").status_code == 404  # type: ignore[attr-defined]
    huge = c.patch(f"{V1}/stacks/app/state", content=b'{"set": {"n": 99999999999999999999}}')  # type: ignore[attr-defined]
    assert huge.status_code == 422 and "64-bit" in huge.json()["error"]["message"]


def test_locks_acquire_status_renew_release_and_force_release(
        client: Client, tokens: Callable[..., str]) -> None:
    alice, bob = client(tokens("alice")), client(tokens("bob"))
    alice.post(f"{V1}/stacks", json={"name": "app"})
    taken = alice.post(f"{V1}/stacks/app/lock", json={"ttl": "10m", "reason": "deploy",
                                                      "metadata": {"ticket": "42"}})
    assert taken.status_code == 201
    lock_id = taken.json()["lock"]["lock_id"]
    status = bob.get(f"{V1}/stacks/app/lock").json()
    assert status["status"] == "LOCKED" and status["lock"]["locked_by"] == "alice"
    assert bob.get(f"{V1}/locks").json()["total"] == 1
    refused = bob.patch(f"{V1}/stacks/app/state", json={"set": {"a": 1}})
    assert refused.status_code == 423
    assert refused.json()["error"]["lock"]["lock_id"] == lock_id
    assert bob.patch(f"{V1}/stacks/app/state", json={"set": {"a": 1}},
                     headers={"X-Lock-Id": lock_id}).status_code == 200
    assert bob.post(f"{V1}/stacks/app/lock/renew", json={"ttl": "1h"}).status_code == 423
    assert alice.post(f"{V1}/stacks/app/lock/renew", json={"ttl": "1h"}).status_code == 200
    assert bob.delete(f"{V1}/stacks/app/lock").status_code == 423
    assert alice.delete(f"{V1}/stacks/app/lock").json()["events"] == ["lock.released"]
    alice.post(f"{V1}/stacks/app/lock", json={})
    forced = bob.post(f"{V1}/stacks/app/lock/force-release", json={"reason": "stuck"})
    assert forced.json()["events"] == ["lock.force_released"]
    assert bob.get(f"{V1}/stacks/app/lock").json()["status"] == "UNLOCKED"
    assert alice.post(f"{V1}/stacks/app/lock", json={"ttl": "soon"}).status_code == 422
    assert alice.post(f"{V1}/stacks/app/lock", json={"wait": "1h"}).status_code == 422


def test_snapshots_create_list_show_compare_restore_and_delete(http: object) -> None:
    c = http
    c.post(f"{V1}/stacks", json={"name": "app"})  # type: ignore[attr-defined]
    c.patch(f"{V1}/stacks/app/state", json={"set": {"v": 1}})  # type: ignore[attr-defined]
    assert c.post(f"{V1}/stacks/app/snapshots", json={"description": "one"}).status_code == 201  # type: ignore[attr-defined]
    c.patch(f"{V1}/stacks/app/state", json={"set": {"v": 2}})  # type: ignore[attr-defined]
    c.post(f"{V1}/stacks/app/snapshots", json={})  # type: ignore[attr-defined]
    listed = c.get(f"{V1}/stacks/app/snapshots").json()  # type: ignore[attr-defined]
    assert [s["version"] for s in listed["snapshots"]] == [2, 1]
    assert c.get(f"{V1}/stacks/app/snapshots/v1").json()["state"]["values"] == {"v": 1}  # type: ignore[attr-defined]
    compared = c.get(f"{V1}/stacks/app/snapshots/compare?from=v1&to=2").json()  # type: ignore[attr-defined]
    assert compared["values"]["changed"] == [{"key": "v", "before": 1, "after": 2}]
    assert c.get(f"{V1}/stacks/app/snapshots/compare?from=v1&to=current").json()["empty"] is False  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/snapshots/compare?from=v1").status_code == 422  # type: ignore[attr-defined]
    dry = c.post(f"{V1}/stacks/app/snapshots/1/restore?dry_run=true").json()  # type: ignore[attr-defined]
    assert dry["dry_run"] is True and c.get(f"{V1}/stacks/app/state/v").json() == 2  # type: ignore[attr-defined]
    restored = c.post(f"{V1}/stacks/app/snapshots/1/restore").json()  # type: ignore[attr-defined]
    assert restored["events"] == ["snapshot.created", "snapshot.restored"]
    assert c.get(f"{V1}/stacks/app/state/v").json() == 1  # type: ignore[attr-defined]
    assert c.delete(f"{V1}/stacks/app/snapshots/2").json()["events"] == ["snapshot.deleted"]  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/snapshots/2").status_code == 404  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/snapshots/2?x=1").json()["error"]["code"] == "not_found"  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/snapshots/vx").status_code == 422  # type: ignore[attr-defined]
    assert c.get(f"{V1}/stacks/app/snapshots?all=true").json()["total"] == 2  # type: ignore[attr-defined]


def test_events_filters_cursor_paging_and_export(http: object) -> None:
    c = http
    for name in ("a", "b"):
        c.post(f"{V1}/stacks", json={"name": name})  # type: ignore[attr-defined]
        c.patch(f"{V1}/stacks/{name}/state", json={"set": {"k": 1}})  # type: ignore[attr-defined]
    everything = c.get(f"{V1}/events").json()["events"]  # type: ignore[attr-defined]
    stack_events = [e for e in everything if e["stack"]]
    assert [e["type"] for e in stack_events] == ["stack.created", "state.set"] * 2
    assert all(e["actor"] == "ci" and e["source"] == "api" for e in stack_events)
    only_a = c.get(f"{V1}/events?stack=a&type=state.*").json()["events"]  # type: ignore[attr-defined]
    assert [(e["stack"], e["type"]) for e in only_a] == [("a", "state.set")]
    pages, after = [], 0
    while after is not None:
        page = c.get(f"{V1}/events?after={after}&limit=2").json()  # type: ignore[attr-defined]
        pages.append([e["id"] for e in page["events"]])
        after = page["next_after"]
    assert [i for p in pages for i in p] == [e["id"] for e in everything]
    assert all(len(p) <= 2 for p in pages)
    assert c.get(f"{V1}/events?limit=0").status_code == 422  # type: ignore[attr-defined]
    assert c.get(f"{V1}/events?since=yesterday").status_code == 422  # type: ignore[attr-defined]
    exported = c.get(f"{V1}/events/export?stack=b")  # type: ignore[attr-defined]
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in exported.content.splitlines()]
    assert [(d["stack"], d["type"]) for d in lines] == [("b", "stack.created"), ("b", "state.set")]


def test_deps_show_order_and_a_cycle(http: object) -> None:
    c = http
    c.post(f"{V1}/stacks", json={"name": "db"})  # type: ignore[attr-defined]
    c.post(f"{V1}/stacks", json={"name": "app", "depends_on": ["db"]})  # type: ignore[attr-defined]
    shown = c.get(f"{V1}/stacks/app/deps").json()  # type: ignore[attr-defined]
    assert [(s["name"], s["depth"]) for s in shown["stacks"]] == [("db", 1)]
    reverse = c.get(f"{V1}/stacks/db/deps?reverse=true").json()  # type: ignore[attr-defined]
    assert [s["name"] for s in reverse["stacks"]] == ["app"]
    assert c.get(f"{V1}/deps/order?stack=app").json()["levels"] == [["db"], ["app"]]  # type: ignore[attr-defined]
    assert c.get(f"{V1}/deps/order?all=true").json()["order"] == ["db", "app"]  # type: ignore[attr-defined]
    assert c.get(f"{V1}/deps/order").status_code == 422  # type: ignore[attr-defined]
    assert c.get(f"{V1}/deps/order?stack=nope").status_code == 404  # type: ignore[attr-defined]
    # A cycle closed while a stack was missing is reported as a conflict.
    c.post(f"{V1}/stacks", json={"name": "x", "depends_on": ["y"]})  # type: ignore[attr-defined]
    c.post(f"{V1}/stacks", json={"name": "y", "depends_on": ["x"]})  # type: ignore[attr-defined]
    cycle = c.get(f"{V1}/deps/order?stack=x")  # type: ignore[attr-defined]
    assert cycle.status_code == 409 and cycle.json()["error"]["code"] == "check_failed"


def test_validate_one_and_all(http: object) -> None:
    c = http
    c.post(f"{V1}/stacks", json={"name": "db"})  # type: ignore[attr-defined]
    c.post(f"{V1}/stacks", json={"name": "app", "depends_on": ["cache"]})  # type: ignore[attr-defined]
    one = c.post(f"{V1}/stacks/db/validate").json()  # type: ignore[attr-defined]
    assert one["passed"] is True and one["event"] == "validation.passed"
    every = c.post(f"{V1}/validate", json={}).json()  # type: ignore[attr-defined]
    assert every["total"] == 2 and every["failed"] == 1
    named = c.post(f"{V1}/validate", json={"stacks": ["db"]}).json()  # type: ignore[attr-defined]
    assert [s["stack"] for s in named["stacks"]] == ["db"]
    assert c.post(f"{V1}/validate", json={"stacks": "db"}).status_code == 422  # type: ignore[attr-defined]
    recorded = c.get(f"{V1}/events?type=validation.*").json()["events"]  # type: ignore[attr-defined]
    assert len(recorded) == 4 and {e["actor"] for e in recorded} == {"ci"}


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/stacks", b"{not json", 400, "bad_request"),
    ("POST", "/stacks", b"[1]", 400, "bad_request"),
    ("POST", "/stacks", b'{"name": "bad name!"}', 422, "invalid_input"),
    ("POST", "/stacks", b'{"name": "app", "unknown": 1}', 201, None),
    ("GET", "/stacks/bad%20name", b"", 422, "invalid_input"),
    ("GET", "/stacks/missing", b"", 404, "not_found"),
    ("GET", "/stacks?all=maybe", b"", 422, "invalid_input"),
    ("GET", "/nowhere", b"", 404, "not_found"),
    ("PUT", "/stacks", b"", 405, "method_not_allowed"),
])
def test_bad_requests_are_4xx_with_one_line_and_change_nothing(
        http: object, db_path: Path, method: str, path: str, body: bytes, status: int,
        code: str | None) -> None:
    before = event_count(db_path)
    answer = http.request(method, V1 + path, content=body)  # type: ignore[attr-defined]
    assert answer.status_code == status, answer.text
    if code is not None:
        error = answer.json()["error"]
        assert error["code"] == code and "\n" not in error["message"]
        assert event_count(db_path) == before


def test_a_conflict_is_409(http: object) -> None:
    assert http.post(f"{V1}/stacks", json={"name": "app"}).status_code == 201  # type: ignore[attr-defined]
    again = http.post(f"{V1}/stacks", json={"name": "app"})  # type: ignore[attr-defined]
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_a_body_larger_than_the_limit_is_413(client: Client, tokens: Callable[..., str],
                                             db_path: Path) -> None:
    small = client(tokens("ci"), max_body=1000)
    before = event_count(db_path)
    answer = small.post(f"{V1}/stacks", content=b'{"name": "' + b"a" * 2000 + b'"}')
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"
    assert event_count(db_path) == before


def test_an_internal_error_reaches_the_client_without_a_traceback(
        http: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("secret detail of the server")

    monkeypatch.setattr("projections.queries.stacks.list_stacks", broken)
    answer = http.get(f"{V1}/stacks")  # type: ignore[attr-defined]
    assert answer.status_code == 500
    assert "secret detail" not in answer.text and "Traceback" not in answer.text
    assert answer.json()["error"]["correlation_id"] == answer.headers["x-correlation-id"]
    assert "secret detail of the server" in caplog.text


# ---- who may do what ------------------------------------------------------------------

def test_no_token_or_an_unknown_one_is_401(client: Client, tokens: Callable[..., str]) -> None:
    tokens("ci")
    anonymous = client()
    for headers in ({}, {"Authorization": "Bearer slr_nope"}, {"Authorization": "Basic !!"},
                    {"Authorization": "Token abc"}):
        answer = anonymous.get(f"{V1}/stacks", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["error"]["code"] == "unauthenticated"
        assert "www-authenticate" in answer.headers
    assert anonymous.get("/terraform/prod").status_code == 401


def test_basic_auth_takes_the_token_as_its_password(client: Client,
                                                    tokens: Callable[..., str]) -> None:
    secret = tokens("ci")
    basic = base64.b64encode(f"anyone:{secret}".encode()).decode()
    answer = client().get(f"{V1}/stacks", headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200


def test_a_revoked_token_opens_nothing(client: Client, tokens: Callable[..., str],
                                       db_path: Path) -> None:
    from commands.tokens import TokenService  # noqa: F401  (the use case the CLI calls)
    from infrastructure.runtime import Runtime
    from tests.server.conftest import admin

    http = client(tokens("ci"))
    assert http.get(f"{V1}/stacks").status_code == 200
    runtime = Runtime(settings_of(db_path))
    runtime.tokens().revoke("ci", admin())
    runtime.catch_up()
    runtime.close()
    assert http.get(f"{V1}/stacks").status_code == 401


def test_a_read_only_token_is_refused_every_change(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    writer = client(tokens("writer"))
    writer.post(f"{V1}/stacks", json={"name": "app"})
    writer.post(f"{V1}/stacks/app/snapshots", json={})
    reader = client(tokens("reader", read_only=True))
    before = event_count(db_path)
    changes = [(method, path) for path, method, _ in api.ROUTES if method != "GET"]
    changes += [(method, "/terraform/app") for method in ("POST", "DELETE", "LOCK", "UNLOCK")]
    assert len(changes) >= 16
    for method, path in changes:
        url = _concrete(path) if path.startswith("/") and not path.startswith("/terraform") \
            else path
        answer = reader.request(method, url, content=b"{}")
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "forbidden"
    assert event_count(db_path) == before
    assert reader.get(f"{V1}/stacks/app").status_code == 200
    assert reader.get(f"{V1}/stacks/app/snapshots/1").status_code == 200


def test_a_token_limited_to_stack_patterns_sees_and_touches_only_those(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    admin_client = client(tokens("admin"))
    for name in ("prod-web", "prod-db", "staging-web"):
        admin_client.post(f"{V1}/stacks", json={"name": name})
    limited = client(tokens("prod-only", stacks=("prod-*",)))
    listed = limited.get(f"{V1}/stacks").json()
    assert sorted(s["name"] for s in listed["stacks"]) == ["prod-db", "prod-web"]
    before = event_count(db_path)
    for method, path in (("GET", "/stacks/staging-web"), ("GET", "/stacks/staging-web/state"),
                         ("PATCH", "/stacks/staging-web/state"), ("DELETE", "/stacks/staging-web"),
                         ("GET", "/events?stack=staging-web"),
                         ("POST", "/stacks/staging-web/lock")):
        answer = limited.request(method, V1 + path, json={"set": {"a": 1}})
        assert answer.status_code == 404, (method, path)
    assert limited.post(f"{V1}/stacks", json={"name": "staging-new"}).status_code == 404
    assert limited.get("/terraform/staging-web").status_code == 404
    assert event_count(db_path) == before
    events = limited.get(f"{V1}/events").json()["events"]
    assert {e["stack"] for e in events} == {"prod-web", "prod-db"}
    exported = limited.get(f"{V1}/events/export").content.splitlines()
    assert {orjson.loads(line)["stack"] for line in exported} == {"prod-web", "prod-db"}
    assert limited.patch(f"{V1}/stacks/prod-web/state", json={"set": {"a": 1}}).status_code == 200


# ---- the API's description --------------------------------------------------------------

def test_every_route_is_in_the_openapi_document_and_nothing_else(client: Client,
                                                                   tokens: Callable[..., str]
                                                                   ) -> None:
    from starlette.routing import Route

    from server.app import MACHINE_PATHS

    http = client(tokens("ci"))
    served = http.get(f"{V1}/openapi.json").json()
    assert served == orjson.loads(orjson.dumps(document()))
    described = {(path, method.removeprefix("x-").upper())
                 for path, operations in served["paths"].items()
                 for method in operations if method != "x-methods"}
    app = http.app  # type: ignore[attr-defined]
    routed = {(re.sub(r"{(\w+):\w+}", r"{\1}", route.path), method)
              for route in app.routes
              if isinstance(route, Route) and route.path.startswith(MACHINE_PATHS)
              for method in route.methods or () if method != "HEAD"}
    assert routed == described
    assert len(routed) == len(api.ROUTES) + 5


def test_the_api_reference_is_rendered_from_the_openapi_document() -> None:
    page = (ROOT / "docs" / "en" / "api-reference.md").read_text()
    assert page == markdown(), "run: python -m server.openapi --markdown > docs/en/api-reference.md"
