"""The one place where exceptions become HTTP statuses and error bodies.

Every error body is `{"error": {"code": "...", "message": "...", ...details}}`, one line of
message, never a traceback (internal errors are logged on the server, with the traceback,
and reach the client as `internal error` with the request's correlation id).
"""

from __future__ import annotations

import logging
from typing import Any

from commands.terraform import DocumentMissing, lock_document
from domain.errors import DomainError
from domain.timestamps import to_text
from infrastructure.categories import Category, category_of
from infrastructure.errors import DatabaseUnusable

log = logging.getLogger("sloth_runner.server")


class HttpProblem(Exception):
    """A request the HTTP layer refuses before any use case runs."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class MalformedRequest(HttpProblem):
    """The body or a header cannot be read: not JSON, a wrong Content-MD5, ..."""


class Unauthenticated(HttpProblem):
    status = 401
    code = "unauthenticated"


class Forbidden(HttpProblem):
    status = 403
    code = "forbidden"


class RouteNotFound(HttpProblem):
    status = 404
    code = "not_found"


class MethodNotAllowed(HttpProblem):
    status = 405
    code = "method_not_allowed"


class BodyTooLarge(HttpProblem):
    status = 413
    code = "too_large"


STATUSES: dict[Category, int] = {
    Category.INVALID_INPUT: 422,
    Category.CHECK_FAILED: 409,
    Category.CANCELLED: 409,
    Category.LOCKED: 423,
    Category.NOT_FOUND: 404,
    Category.CONFLICT: 409,
    Category.UNAVAILABLE: 503,
    Category.INTERRUPTED: 503,
    Category.INTERNAL: 500,
}

TERRAFORM_WRITE = {Category.LOCKED: 409}
"""Terraform's http backend answers a state write refused by someone else's lock with 409."""

_SERVER_KINDS = ((DatabaseUnusable, Category.UNAVAILABLE), (DocumentMissing, Category.INTERNAL))
"""On a server, a database it cannot use is its own problem, not the client's input."""


def problem(exc: BaseException, *, correlation_id: str, statuses: dict[Category, int] | None = None,
            terraform: bool = False) -> tuple[int, dict[str, Any]]:
    """The status and JSON body that answer a request which failed with `exc`.

    `terraform`: the holder of a lock is described as Terraform reads a lock document, at
    the top level of the body (where its http backend looks for it).
    """
    if isinstance(exc, HttpProblem):
        return exc.status, {"error": {"code": exc.code, "message": exc.message, **exc.details}}
    category = category_of(exc, _SERVER_KINDS)
    status = (statuses or {}).get(category) or STATUSES[category]
    if category is Category.INTERNAL:
        log.error("internal error (correlation id %s)", correlation_id, exc_info=exc)
        return status, {"error": {"code": category.value, "correlation_id": correlation_id,
                                  "message": "internal error; the server's log has the details"}}
    details = dict(exc.details) if isinstance(exc, DomainError) else {}
    body: dict[str, Any] = {"error": {"code": category.value, "message": _one_line(exc),
                                      **details}}
    lock = getattr(exc, "lock", None)
    if lock is not None:
        body["error"]["lock"] = lock_json(lock)
        if terraform:
            body.update(lock_document(lock))
    return status, body


def lock_json(lock: Any) -> dict[str, Any]:
    """A lock as the API shows it (the CLI's `--json` field names)."""
    return {"lock_id": lock.lock_id, "locked_by": lock.locked_by,
            "acquired_by_actor": lock.acquired_by_actor, "operation": lock.operation,
            "reason": lock.reason, "metadata": dict(lock.metadata),
            "locked_at": to_text(lock.locked_at), "expires_at": to_text(lock.expires_at),
            "generation": lock.generation}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
