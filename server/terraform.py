"""Terraform's http backend at `/terraform/{stack}`: GET, POST, DELETE, LOCK and UNLOCK.

Terraform's configuration:

    terraform {
      backend "http" {
        address        = "https://host:8080/terraform/prod"
        lock_address   = "https://host:8080/terraform/prod"
        unlock_address = "https://host:8080/terraform/prod"
        username       = "ci"          # any name; the token is the password
        password       = "slr_..."
      }
    }
"""

from __future__ import annotations

import base64
import hashlib

from starlette.responses import Response
from starlette.routing import Route

from commands.terraform import TerraformBackend, TerraformLock, decode, lock_document
from domain.invocation import Source
from server.app import Call, endpoint, json_response
from server.errors import TERRAFORM_WRITE, MalformedRequest

PATH = "/terraform/{stack}"
METHODS = ("GET", "POST", "DELETE", "LOCK", "UNLOCK")


def _backend(call: Call) -> TerraformBackend:
    return TerraformBackend(call.runtime.service(), call.runtime.documents(),
                            auto_create=call.options.auto_create)


def get_state(call: Call) -> Response:
    """The state document exactly as pushed; 404 when there is none (Terraform: empty)."""
    from domain.errors import NotFound

    name = call.stack()
    document = _backend(call).current(name)
    if document is None:
        raise NotFound(f"stack '{name}' holds no Terraform state yet", stack=name)
    return Response(document.data, media_type="application/json",
                    headers={"Content-MD5": document.md5})


def push_state(call: Call) -> Response:
    """Store a new state document (`?ID=` presents the lock Terraform holds)."""
    name = call.stack()
    _check_md5(call)
    try:
        document = decode(call.body)
    except ValueError as exc:
        raise MalformedRequest(f"the state is not JSON: {exc}") from None
    outcome = _backend(call).push(name, call.body, document, call.invocation)
    state = outcome.detail["state"]
    return json_response({"stack": name, "recorded": outcome.detail["recorded"],
                          "serial": state.serial, "lineage": state.lineage,
                          "sha256": state.sha256, "events": outcome.events})


def delete_state(call: Call) -> Response:
    """Hold no state any more; the stack and its history stay."""
    name = call.stack()
    outcome = _backend(call).delete(name, call.invocation)
    return json_response({"stack": name, "deleted": outcome.detail["deleted"] is not None,
                          "events": outcome.events})


def lock_state(call: Call) -> Response:
    """Take the stack's lock with Terraform's lock document; 423 with the holder's if held."""
    name = call.stack()
    lock = _lock(call)
    if lock is None:
        raise MalformedRequest("LOCK needs Terraform's lock document (a JSON object with ID)")
    outcome = _backend(call).lock(name, lock, call.invocation)
    return json_response(lock_document(outcome.detail["lock"]))


def unlock_state(call: Call) -> Response:
    """Release Terraform's lock; an UNLOCK without a full lock document is force-unlock."""
    name = call.stack()
    outcome = _backend(call).unlock(name, _lock(call), call.invocation)
    return json_response(lock_document(outcome.detail["lock"]))


def _lock(call: Call) -> TerraformLock | None:
    """Terraform's lock document from the body; None for an empty body."""
    _check_md5(call)
    if not call.body.strip():
        return None
    document = call.json()
    if not isinstance(document, dict):
        raise MalformedRequest("the lock document must be a JSON object")
    if not document.get("ID"):
        raise MalformedRequest("the lock document has no ID")
    return TerraformLock(**{key: value for key, value in document.items()
                            if isinstance(key, str)})


def _check_md5(call: Call) -> None:
    """Terraform sends the body's MD5; a body that does not match it was damaged."""
    given = call.request.headers.get("content-md5")
    if given is None:
        return
    actual = base64.b64encode(hashlib.md5(call.body, usedforsecurity=False).digest()).decode()
    if given.strip() != actual:
        raise MalformedRequest("Content-MD5 does not match the body")


def _dispatch(call: Call) -> Response:
    handler = {"GET": get_state, "POST": push_state, "DELETE": delete_state,
               "LOCK": lock_state, "UNLOCK": unlock_state}[call.request.method]
    return handler(call)


def routes() -> list[Route]:
    reads = endpoint(get_state, source=Source.TERRAFORM)
    writes = endpoint(_dispatch, source=Source.TERRAFORM, statuses=TERRAFORM_WRITE)
    locks = endpoint(_dispatch, source=Source.TERRAFORM, terraform=True)
    return [Route(PATH, reads, methods=["GET"], name="terraform_get"),
            Route(PATH, writes, methods=["POST", "DELETE"], name="terraform_write"),
            Route(PATH, locks, methods=["LOCK", "UNLOCK"], name="terraform_lock")]
