"""The Terraform http backend protocol, request by request (in-process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from tests.conftest import event_count, rows
from tests.server.conftest import Client, lock_body, md5, state_document

URL = "/terraform/prod"


def push(http: object, data: bytes, lock_id: str | None = None) -> object:
    suffix = f"?ID={lock_id}" if lock_id else ""
    return http.post(URL + suffix, content=data,  # type: ignore[attr-defined]
                     headers={"Content-MD5": md5(data), "Content-Type": "application/json"})


def test_get_before_any_push_is_404_and_creates_nothing(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"))
    before = event_count(db_path)
    answer = http.get(URL)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert event_count(db_path) == before


def test_a_push_is_served_back_exactly_with_its_md5(client: Client,
                                                     tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    data = state_document(1)
    answer = push(http, data)
    assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    served = http.get(URL)
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-md5"] == md5(data)
    stack = http.get("/api/v1/stacks/prod").json()
    assert stack["outputs"] == {"greeting": "hello", "password": "<sensitive>"}
    assert "hunter2" not in http.get("/api/v1/events?stack=prod").text


def test_a_push_declares_the_resources_as_terraform_records(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"))
    push(http, state_document(1))
    http.get("/api/v1/stacks/prod")  # catches the read models up
    ((name, kind, state, desired),) = rows(
        db_path, "SELECT r.name, r.type, r.state, d.desired FROM resources r"
        " JOIN resource_declarations d ON d.id = r.id")
    assert (name, kind, state) == ("null_resource.web", "terraform", "recorded")
    assert orjson.loads(desired) == {"address": "null_resource.web", "mode": "managed",
                                     "type": "null_resource", "provider": "provider.null",
                                     "instances": 2}


def test_large_documents_are_stored_compressed_and_come_back_intact(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"))
    data = state_document(1, padding="x" * 2_000_000)
    assert push(http, data).status_code == 200  # type: ignore[attr-defined]
    assert http.get(URL).content == data
    ((encoding, stored),) = rows(db_path, "SELECT encoding, length(content) FROM state_documents")
    ((largest,),) = rows(db_path, "SELECT MAX(length(data)) FROM state_events")
    assert encoding == "zlib+base64" and int(str(stored)) < len(data) // 10
    assert int(str(largest)) < 2000  # the audit log keeps no document


def test_a_wrong_content_md5_is_refused_and_records_nothing(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"))
    before = event_count(db_path)
    answer = http.post(URL, content=state_document(1), headers={"Content-MD5": md5(b"other")})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Content-MD5 does not match the body"
    assert event_count(db_path) == before


def test_malformed_and_invalid_documents_are_4xx_with_one_line(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"))
    before = event_count(db_path)
    for body, status in ((b"{not json", 400), (b"[1, 2]", 422), (b'{"version": 3}', 422),
                         (b'{"version": 4, "serial": 1, "lineage": "x", "outputs": '
                          b'{"bad key!": {"value": 1}}}', 422)):
        answer = http.post(URL, content=body, headers={"Content-MD5": md5(body)})
        assert answer.status_code == status, (body, answer.text)
        message = answer.json()["error"]["message"]
        assert "\n" not in message and "Traceback" not in answer.text
    assert event_count(db_path) == before


def test_a_serial_going_backwards_for_the_same_lineage_is_a_conflict(
        client: Client, tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    assert push(http, state_document(5)).status_code == 200  # type: ignore[attr-defined]
    refused = push(http, state_document(4, greeting="older"))
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "would go backwards" in refused.json()["error"]["message"]  # type: ignore[attr-defined]
    # Another lineage starts afresh (a new state, as after `terraform state push`).
    assert push(http, state_document(1, lineage="lineage-2")).status_code == 200  # type: ignore[attr-defined]


def test_the_same_document_again_records_nothing(client: Client, tokens: Callable[..., str],
                                                 db_path: Path) -> None:
    http = client(tokens("ci"))
    push(http, state_document(1))
    before = event_count(db_path)
    again = push(http, state_document(1))
    assert again.status_code == 200 and again.json()["recorded"] is False  # type: ignore[attr-defined]
    assert event_count(db_path) == before


def test_lock_conflict_is_423_with_the_holders_lock_document(
        client: Client, tokens: Callable[..., str]) -> None:
    alice, bob = client(tokens("alice")), client(tokens("bob"))
    assert alice.request("LOCK", URL, content=lock_body("lock-a")).status_code == 200
    refused = bob.request("LOCK", URL, content=lock_body("lock-b", who="bob@desk"))
    assert refused.status_code == 423
    holder = refused.json()
    assert holder["ID"] == "lock-a" and holder["Who"] == "alice@laptop"
    assert holder["Operation"] == "OperationTypeApply" and holder["Version"] == "0.11.11"
    assert holder["error"]["code"] == "locked"
    # The holder's lock id presented with the push lets it through; another's is a 409.
    assert push(bob, state_document(1), lock_id="lock-b").status_code == 409  # type: ignore[attr-defined]
    assert push(bob, state_document(1)).status_code == 409  # type: ignore[attr-defined]
    assert push(alice, state_document(1), lock_id="lock-a").status_code == 200  # type: ignore[attr-defined]
    assert alice.request("UNLOCK", URL, content=lock_body("lock-a")).status_code == 200
    assert bob.request("LOCK", URL, content=lock_body("lock-b")).status_code == 200


def test_locking_again_with_the_same_id_is_idempotent(client: Client,
                                                      tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    assert http.request("LOCK", URL, content=lock_body("same")).status_code == 200
    assert http.request("LOCK", URL, content=lock_body("same")).status_code == 200
    acquired = http.get("/api/v1/events?stack=prod&type=lock.acquired").json()["events"]
    assert len(acquired) == 1


def test_a_lock_document_without_id_is_refused(client: Client, tokens: Callable[..., str],
                                               db_path: Path) -> None:
    http = client(tokens("ci"))
    before = event_count(db_path)
    for body in (b'{"Who": "me"}', b"", b"[]", b"{bad"):
        answer = http.request("LOCK", URL, content=body)
        assert answer.status_code == 400, body
    assert event_count(db_path) == before


def test_unlock_without_a_lock_document_is_force_unlock_on_record(
        client: Client, tokens: Callable[..., str]) -> None:
    alice, bob = client(tokens("alice")), client(tokens("bob"))
    alice.request("LOCK", URL, content=lock_body("lock-a"))
    # Terraform 0.11's force-unlock sends no body; later releases send only the ID.
    assert bob.request("UNLOCK", URL).status_code == 200
    alice.request("LOCK", URL, content=lock_body("lock-c"))
    assert bob.request("UNLOCK", URL, content=b'{"ID": "wrong"}').status_code == 423
    assert bob.request("UNLOCK", URL, content=b'{"ID": "lock-c"}').status_code == 200
    forced = bob.get("/api/v1/events?stack=prod&type=lock.force_released").json()["events"]
    assert [(e["actor"], e["data"]["lock_id"]) for e in forced] == [("bob", "lock-a"),
                                                                    ("bob", "lock-c")]


def test_unlock_by_someone_not_holding_the_lock_is_refused(
        client: Client, tokens: Callable[..., str]) -> None:
    alice, bob = client(tokens("alice")), client(tokens("bob"))
    alice.request("LOCK", URL, content=lock_body("lock-a"))
    refused = bob.request("UNLOCK", URL, content=lock_body("lock-b"))
    assert refused.status_code == 423
    assert refused.json()["ID"] == "lock-a"


def test_delete_removes_the_state_but_keeps_the_stack_and_history(
        client: Client, tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    push(http, state_document(1))
    assert http.delete(URL).status_code == 200
    assert http.get(URL).status_code == 404
    stack = http.get("/api/v1/stacks/prod").json()
    assert stack["status"] != "destroyed" and stack["outputs"] == {}
    types = [e["type"] for e in http.get("/api/v1/events?stack=prod").json()["events"]]
    assert "terraform.state.pushed" in types and "terraform.state.deleted" in types
    assert push(http, state_document(1, lineage="fresh")).status_code == 200  # type: ignore[attr-defined]


def test_without_auto_create_terraform_uses_only_existing_stacks(
        client: Client, tokens: Callable[..., str], db_path: Path) -> None:
    http = client(tokens("ci"), auto_create=False)
    before = event_count(db_path)
    assert http.request("LOCK", URL, content=lock_body("x")).status_code == 404
    assert push(http, state_document(1)).status_code == 404  # type: ignore[attr-defined]
    assert event_count(db_path) == before
    assert http.post("/api/v1/stacks", json={"name": "prod"}).status_code == 201
    assert push(http, state_document(1)).status_code == 200  # type: ignore[attr-defined]


def test_the_created_stack_is_recorded_with_source_terraform(
        client: Client, tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    push(http, state_document(1))
    (created,) = http.get("/api/v1/events?stack=prod&type=stack.created").json()["events"]
    assert (created["actor"], created["source"]) == ("ci", "terraform")


def test_a_restore_serves_the_old_document_with_a_higher_serial(
        client: Client, tokens: Callable[..., str]) -> None:
    http = client(tokens("ci"))
    push(http, state_document(1, greeting="first"))
    push(http, state_document(2, greeting="second"))
    assert http.post("/api/v1/stacks/prod/snapshots/1/restore").status_code == 200
    served = orjson.loads(http.get(URL).content)
    assert served["serial"] == 3 and served["lineage"] == "lineage-1"
    assert served["modules"][0]["outputs"]["greeting"]["value"] == "first"
    assert http.get("/api/v1/stacks/prod/outputs/greeting").json() == "first"
    # Terraform's next write follows the served serial; an older one is refused.
    assert push(http, state_document(2, greeting="stale")).status_code == 409  # type: ignore[attr-defined]
    assert push(http, state_document(4, greeting="next")).status_code == 200  # type: ignore[attr-defined]
