"""The OpenAPI 3.1 document of `/api/v1` and of the Terraform backend.

Paths, methods and summaries come from the routes themselves (`server.api.ROUTES`, the
handlers' docstrings); what each takes and answers is written here. A test checks that
every route is described and nothing else is; docs/en/api-reference.md is rendered from it
(`python -m server.openapi --markdown`).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from server import api, terraform

VERSION = "1"
_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")

STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer", "minimum": 0}
OBJECT: dict[str, Any] = {"type": "object"}
ANY: dict[str, Any] = {}


def _q(name: str, schema: dict[str, Any], description: str,
       *, many: bool = False) -> dict[str, Any]:
    shown = {"type": "array", "items": schema} if many else schema
    return {"name": name, "in": "query", "required": False, "schema": shown,
            "description": description}


def _body(properties: dict[str, tuple[dict[str, Any], str]],
          required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False,
            "properties": {name: {**schema, "description": text}
                           for name, (schema, text) in properties.items()},
            **({"required": list(required)} if required else {})}


LOCK_ID_HEADER = {"name": "X-Lock-Id", "in": "header", "required": False, "schema": STRING,
                  "description": "Present this lock id: the caller holds the stack's lock."}
DURATION = {"type": "string", "examples": ["30m", "1h30m"]}
TERRAFORM_LOCK = _body({name: (STRING, text) for name, text in (
    ("ID", "The lock id (Terraform makes one per operation)."),
    ("Operation", "What Terraform is doing, e.g. OperationTypeApply."),
    ("Info", "Extra information (recorded as the lock's reason)."),
    ("Who", "user@host of the Terraform run (recorded as the holder)."),
    ("Version", "Terraform's version."), ("Created", "When Terraform made the lock."),
    ("Path", "The state's path (empty for the http backend)."))}, ("ID",))
TERRAFORM_LOCK["additionalProperties"] = True

EXTRA: dict[tuple[str, str], dict[str, Any]] = {
    ("/stacks", "GET"): {"parameters": [_q("all", BOOLEAN, "Include destroyed stacks.")]},
    ("/stacks", "POST"): {"status": 201, "body": _body({
        "name": (STRING, "The stack's name."),
        "description": (STRING, "What it is for."),
        "depends_on": ({"type": "array", "items": STRING}, "Stacks it depends on.")},
        ("name",))},
    ("/stacks/{stack}", "GET"): {"parameters": [
        _q("at", STRING, "As it was at this time (ISO 8601; UTC without a zone)."),
        _q("at_event", INTEGER, "As it was at this event id.")]},
    ("/stacks/{stack}", "DELETE"): {"parameters": [
        _q("reason", STRING, "Why (recorded)."),
        _q("force", BOOLEAN, "Destroy even though the caller holds its lock."),
        LOCK_ID_HEADER]},
    ("/stacks/{stack}/history", "GET"): {"parameters": [
        _q("limit", INTEGER, "The newest N changes.")]},
    ("/stacks/{stack}/state", "PATCH"): {"parameters": [LOCK_ID_HEADER], "body": {
        "oneOf": [_body({"set": (OBJECT, "KEY: any JSON value, set atomically.")}, ("set",)),
                  _body({"unset": ({"type": "array", "items": STRING},
                                   "Keys to delete (each must exist).")}, ("unset",))]}},
    ("/stacks/{stack}/outputs", "PATCH"): {"parameters": [LOCK_ID_HEADER], "body": _body({
        "set": (OBJECT, "KEY: any JSON value."),
        "unset": ({"type": "array", "items": STRING}, "Outputs to delete.")})},
    ("/stacks/{stack}/lock", "POST"): {"status": 201, "body": _body({
        "ttl": (DURATION, "Lease length (default: lock_timeout)."),
        "wait": (DURATION, "Wait up to this long for a held lock (at most 10m)."),
        "locked_by": (STRING, "Holder name (default: the token's name)."),
        "operation": (STRING, "What is being done."),
        "reason": (STRING, "Why the stack is locked."),
        "metadata": ({"type": "object", "additionalProperties": STRING}, "KEY: VALUE.")})},
    ("/stacks/{stack}/lock", "DELETE"): {"parameters": [
        _q("unlocked_by", STRING, "Who releases (must be the holder)."), LOCK_ID_HEADER]},
    ("/stacks/{stack}/lock/renew", "POST"): {"parameters": [LOCK_ID_HEADER], "body": _body({
        "ttl": (DURATION, "New lease from now (default: lock_timeout).")})},
    ("/stacks/{stack}/lock/force-release", "POST"): {"body": _body({
        "reason": (STRING, "Why (recorded)."),
        "lock_id": (STRING, "Only if the lock still has this id.")})},
    ("/stacks/{stack}/snapshots", "GET"): {"parameters": [
        _q("all", BOOLEAN, "Include deleted versions.")]},
    ("/stacks/{stack}/snapshots", "POST"): {"status": 201, "parameters": [LOCK_ID_HEADER],
                                            "body": _body({
        "description": (STRING, "What it captures."),
        "creator": (STRING, "Who (default: the token's name).")})},
    ("/stacks/{stack}/snapshots/compare", "GET"): {"parameters": [
        _q("from", STRING, "A version (v5 or 5) or current."),
        _q("to", STRING, "A version (v5 or 5) or current.")]},
    ("/stacks/{stack}/snapshots/{version}", "DELETE"): {"parameters": [LOCK_ID_HEADER]},
    ("/stacks/{stack}/snapshots/{version}/restore", "POST"): {"parameters": [
        _q("dry_run", BOOLEAN, "Only show what would change."), LOCK_ID_HEADER]},
    ("/events", "GET"): {"parameters": [
        _q("stack", STRING, "Only this stack."),
        _q("type", STRING, "Event type, glob allowed: lock.*"),
        _q("actor", STRING, "Only events by this actor."),
        _q("since", STRING, "ISO 8601; UTC without a zone."),
        _q("until", STRING, "ISO 8601; UTC without a zone."),
        _q("limit", INTEGER, "Without after: the newest N. With after: a page of N (default "
                             "100, at most 1000)."),
        _q("after", INTEGER, "Cursor: events after this event id, oldest first; the answer's "
                             "next_after continues (null: no more).")]},
    ("/events/export", "GET"): {"media": "application/x-ndjson", "parameters": [
        _q("stack", STRING, "Only this stack.")]},
    ("/stacks/{stack}/deps", "GET"): {"parameters": [
        _q("reverse", BOOLEAN, "What depends on the stack instead."),
        _q("transitive", BOOLEAN, "Follow dependencies all the way.")]},
    ("/deps/order", "GET"): {"parameters": [
        _q("stack", STRING, "A stack to order (repeat it); its dependencies come along.",
           many=True),
        _q("all", BOOLEAN, "Every stack that is not destroyed.")]},
    ("/stacks/{stack}/validate", "POST"): {"parameters": [
        _q("check_drift", BOOLEAN, "Also observe every declared resource.")]},
    ("/validate", "POST"): {"parameters": [
        _q("check_drift", BOOLEAN, "Also observe every declared resource.")],
        "body": _body({"stacks": ({"type": "array", "items": STRING},
                                  "Stacks to validate (default: every live one).")})},
}

TERRAFORM: dict[str, dict[str, Any]] = {
    "GET": {"summary": "The state document exactly as pushed (404: none yet, which Terraform "
                       "takes as empty).", "media": "application/json"},
    "POST": {"summary": "Store a new state document (checked against Content-MD5, the lock "
                        "and the serial).",
             "parameters": [_q("ID", STRING, "The lock id Terraform holds.")],
             "body": {"type": "object", "description": "A Terraform state document."},
             "errors": {409: "locked by another lock id, or a serial that goes backwards"}},
    "DELETE": {"summary": "Hold no state any more (the stack and its history stay)."},
    "LOCK": {"summary": "Take the stack's lock (Terraform's lock document); 423 with the "
                        "holder's lock document when it is held.", "body": TERRAFORM_LOCK},
    "UNLOCK": {"summary": "Release Terraform's lock; without a full lock document (what "
                          "force-unlock sends) the lock is force-released, on record.",
               "body": TERRAFORM_LOCK},
}

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": [
            "bad_request", "unauthenticated", "forbidden", "not_found", "method_not_allowed",
            "too_large", "invalid_input", "check_failed", "locked", "conflict",
            "unavailable", "internal"]},
        "message": {"type": "string", "description": "One line."}},
    "additionalProperties": True}}}

ERRORS = {400: "malformed request (not JSON, wrong Content-MD5)",
          401: "no token, or an unknown or revoked one",
          403: "a read-only token asked for a change",
          404: "no such stack (or one the token may not see), version, key or endpoint",
          409: "conflict: exists, destroyed, a dependency cycle, concurrent changes",
          413: "the body is larger than the server takes",
          422: "invalid input: a name, key, value, duration or version",
          423: "locked by someone else (the body's error.lock is the holder)",
          503: "the database cannot be used now"}


def _operation(summary: str, extra: dict[str, Any], path: str) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": STRING}
                  for name in _PARAMETER.findall(path)] + extra.get("parameters", [])
    status = extra.get("status", 200)
    media = extra.get("media", "application/json")
    operation: dict[str, Any] = {
        "summary": summary, "parameters": parameters,
        "responses": {str(status): {"description": "success",
                                    "content": {media: {"schema": ANY}}},
                      **{str(code): {"description": text, "content": {
                          "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                         for code, text in {**ERRORS, **extra.get("errors", {})}.items()}}}
    if "body" in extra:
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": extra["body"]}}}
    return operation


def _summary(handler: Any) -> str:
    return (handler.__doc__ or "").strip().splitlines()[0]


def document() -> dict[str, Any]:
    """The OpenAPI document (paths without their `{name:path}` converters)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, handler in api.ROUTES:
        shown = _PARAMETER.sub(r"{\1}", api.PREFIX + path)
        paths.setdefault(shown, {})[method.lower()] = _operation(
            _summary(handler), EXTRA.get((path, method), {}), path)
    paths[terraform.PATH] = {"x-methods": list(terraform.METHODS)}
    for method in terraform.METHODS:
        extra = TERRAFORM[method]
        key = method.lower() if method in ("GET", "POST", "DELETE") else f"x-{method.lower()}"
        paths[terraform.PATH][key] = _operation(extra["summary"], extra, terraform.PATH)
    return {
        "openapi": "3.1.0",
        "info": {"title": "sloth-runner", "version": VERSION,
                 "description": "Stacks, locks, snapshots, the audit log, dependencies and "
                                "validation over HTTP, and Terraform's http state backend."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"basic": []}],
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "A token from `sloth-runner tokens create NAME`."},
            "basic": {"type": "http", "scheme": "basic",
                      "description": "Any user name; the token as the password (Terraform)."}},
            "schemas": {"Error": ERROR}},
        "paths": paths,
    }


def markdown() -> str:
    """The API reference page, rendered from the document."""
    spec = document()
    lines = ["# API reference", "",
             "<!-- Rendered from the OpenAPI document by `python -m server.openapi --markdown`;",
             "     do not edit by hand. -->", "",
             spec["info"]["description"], "",
             "Every request needs a token (`sloth-runner tokens create NAME`): "
             "`Authorization: Bearer TOKEN`, or basic auth with the token as the password. "
             "The server serves this document at `/api/v1/openapi.json`. "
             "See [serve.md](serve.md) for setup.", "",
             "## Errors", "",
             'Every error is `{"error": {"code": "...", "message": "..."}}` (one line of '
             "message; a lock conflict adds the holder as `error.lock`).", "",
             "| status | when |", "|---|---|"]
    lines += [f"| {code} | {text} |" for code, text in ERRORS.items()]
    lines += ["", "## Endpoints", ""]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "x-methods":
                continue
            verb = method.removeprefix("x-").upper()
            lines += [f"### `{verb} {path}`", "", operation["summary"], ""]
            success = next(code for code in operation["responses"] if code < "400")
            params = operation["parameters"]
            if params:
                lines += ["| parameter | in | type | description |", "|---|---|---|---|"]
                for p in params:
                    kind = p["schema"].get("type", "")
                    if kind == "array":
                        kind = f"{p['schema']['items'].get('type', '')} (repeat)"
                    lines.append(f"| `{p['name']}` | {p['in']} | {kind} | "
                                 f"{p.get('description', '')} |")
                lines.append("")
            body = operation.get("requestBody")
            if body:
                schema = body["content"]["application/json"]["schema"]
                variants = schema.get("oneOf", [schema])
                for variant in variants:
                    fields = variant.get("properties", {})
                    if fields:
                        shown = ", ".join(f"`{name}`" for name in fields)
                        lines.append(f"Body (JSON object): {shown}.")
                        for name, field in fields.items():
                            lines.append(f"- `{name}`: {field.get('description', '')}")
                    else:
                        lines.append(f"Body: {variant.get('description', 'JSON')}")
                lines.append("")
            lines += [f"Success: {success}.", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
    else:
        import json

        sys.stdout.write(json.dumps(document(), indent=2) + "\n")
