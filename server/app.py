"""The HTTP front door: a starlette application over the same runtime as the CLI.

Each request is authenticated with a token, run in a worker thread (every thread has its
own `Runtime`: its own SQLite connections, so transactions never interleave), and answered
with JSON; every failure goes through `server.errors.problem`.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.invocation import Invocation, Source
from domain.names import validate_stack_name
from server.errors import (
    BodyTooLarge,
    Forbidden,
    MalformedRequest,
    MethodNotAllowed,
    RouteNotFound,
    Unauthenticated,
    problem,
)

if TYPE_CHECKING:
    from infrastructure.categories import Category
    from infrastructure.runtime import Runtime
    from infrastructure.settings import Settings

log = logging.getLogger("sloth_runner.server")

DEFAULT_MAX_BODY = 256 * 1024 * 1024
"""Request bodies up to this size are read (Terraform states of tens of MB fit)."""
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,128}")
READ_METHODS = frozenset({"GET", "HEAD"})
MACHINE_PATHS = ("/api/", "/terraform/")
"""Where clients are programs: errors there are JSON, elsewhere (the web pages) HTML."""


@dataclass(frozen=True)
class ServerOptions:
    """How the server was started."""

    settings: Settings
    auto_create: bool = True
    """Terraform's first write to a stack that does not exist creates it."""
    max_body: int = DEFAULT_MAX_BODY


class RuntimePool:
    """One Runtime per worker thread, all on the same settings; closed together at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._all: list[Runtime] = []
        self._guard = threading.Lock()

    def get(self) -> Runtime:
        runtime: Runtime | None = getattr(self._local, "runtime", None)
        if runtime is None:
            from infrastructure.runtime import Runtime

            runtime = Runtime(self.settings, warn=log.warning)
            self._local.runtime = runtime
            with self._guard:
                self._all.append(runtime)
        return runtime

    def close(self) -> None:
        with self._guard:
            for runtime in self._all:
                runtime.close()
            self._all.clear()


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's name, whether it may write, the stacks it may see."""

    name: str
    read_only: bool
    stacks: tuple[str, ...]

    def may_see(self, stack: str) -> bool:
        from domain.tokens import allows

        return allows(self.stacks, stack)


@dataclass
class Call:
    """One request, as a handler sees it (in its worker thread)."""

    request: Request
    runtime: Runtime
    caller: Caller
    invocation: Invocation
    body: bytes
    options: ServerOptions
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def params(self) -> Any:
        return self.request.query_params

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def stack(self, name: str | None = None) -> str:
        """The stack the path names, if the token may see it (else: not found, as if absent)."""
        from domain.errors import StackNotFound

        stack = name if name is not None else self.path("stack")
        validate_stack_name(stack)
        if not self.caller.may_see(stack):
            raise StackNotFound(stack)
        return stack

    def visible_stack_ids(self) -> tuple[str, ...] | None:
        """For a token limited to some stacks: the ids of those it may see (None: every one)."""
        from projections.queries.stacks import stack_names

        if not self.caller.stacks:
            return None
        return tuple(identity for identity, name in stack_names(self.runtime.reader()).items()
                     if self.caller.may_see(name))

    def json(self) -> Any:
        """The body as JSON (an empty body is an empty object)."""
        from commands.models import parse_json_value

        if not self.body.strip():
            return {}
        try:
            orjson.loads(self.body)
            text = self.body.decode("utf-8")
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedRequest(f"the body is not JSON: {exc}") from None
        # Integers beyond 64 bits are refused, not rounded (orjson reads them as floats).
        return parse_json_value("request body", text)

    def object(self) -> dict[str, Any]:
        document = self.json()
        if not isinstance(document, dict):
            raise MalformedRequest("the body must be a JSON object")
        return document

    def written(self) -> None:
        """After a change: the read models catch up before the answer is rendered."""
        self.runtime.catch_up()


Handler = Callable[[Call], Response]


def json_response(document: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; every secret in it reads `[secret]` (the API never reveals one)."""
    body = orjson.dumps(document, default=str)
    if b'"$secret"' in body:
        from domain.secrets import mask_deep

        body = orjson.dumps(mask_deep(document), default=str)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def endpoint(handler: Handler, *, source: Source = Source.API,
             statuses: dict[Category, int] | None = None,
             terraform: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint that authenticates, runs `handler` in a worker thread and maps errors.

    Any method but GET and HEAD changes something: a read-only token is refused (403).
    `statuses` overrides the status of some error categories for this endpoint.
    """

    async def run(request: Request) -> Response:
        correlation_id = correlation_id_of(request)
        options: ServerOptions = request.app.state.options
        try:
            body = await read_body(request, options.max_body)
            response = await run_in_threadpool(
                _handle, request, body, handler, source, correlation_id)
        except Exception as exc:
            status, document = problem(exc, correlation_id=correlation_id, statuses=statuses,
                                       terraform=terraform)
            response = json_response(document, status)
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Basic realm="sloth-runner"'
        response.headers["X-Correlation-Id"] = correlation_id
        return response

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _handle(request: Request, body: bytes, handler: Handler, source: Source,
            correlation_id: str) -> Response:
    from infrastructure.clock import now

    options: ServerOptions = request.app.state.options
    runtime = request.app.state.runtimes.get()
    caller = authenticate(request, runtime)
    request.scope["sloth_runner.actor"] = caller.name
    if request.method not in READ_METHODS and caller.read_only:
        raise Forbidden(f"token '{caller.name}' is read-only: it cannot change anything")
    invocation = Invocation(actor=caller.name, source=source, correlation_id=correlation_id,
                            at=now(), lock_id=_lock_id(request))
    return handler(Call(request, runtime, caller, invocation, body, options))


def authenticate(request: Request, runtime: Runtime) -> Caller:
    """The token presented as `Authorization: Bearer SECRET`, or as the password of basic
    auth (Terraform's `username`/`password`); 401 without a live one."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    secret = ""
    if scheme.lower() == "bearer":
        secret = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise Unauthenticated("basic credentials are not base64 of USER:TOKEN") from None
        secret = decoded.partition(":")[2]
    if not secret:
        raise Unauthenticated("a token is needed: 'Authorization: Bearer TOKEN', or the token "
                              "as the password of basic auth (make one with: sloth-runner "
                              "tokens create NAME)")
    return caller_of(secret, runtime)


def caller_of(secret: str, runtime: Runtime) -> Caller:
    """The live token with this secret (401 when none has it: unknown, or revoked)."""
    from commands.tokens import digest_of
    from projections.queries.tokens import token_by_digest

    token = token_by_digest(runtime.reader(), digest_of(secret))
    if token is None:
        raise Unauthenticated("the token is not known, or was revoked")
    return Caller(token.name, token.read_only, tuple(token.stacks))


def _lock_id(request: Request) -> str | None:
    """The lock id a caller presents: `X-Lock-Id` (the API) or `?ID=` (Terraform)."""
    from domain.locks import validate_lock_text

    value = request.headers.get("x-lock-id") or request.query_params.get("ID")
    return validate_lock_text(value, "lock_id", "lock id") if value else None


def correlation_id_of(request: Request) -> str:
    given = request.headers.get("x-correlation-id", "")
    return given if _CORRELATION.fullmatch(given) else str(uuid.uuid4())


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(f"the body ({int(declared)} bytes) is larger than this server "
                               f"takes ({limit} bytes; see serve --max-body-size)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is larger than this server takes ({limit} bytes; "
                               "see serve --max-body-size)")
        chunks.append(chunk)
    return b"".join(chunks)


class AccessLog:
    """One line per request: client, method, path, status, time taken, token name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "")
            shown = path.encode("ascii", "backslashreplace").decode("ascii")
            shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
            actor = scope.get("sloth_runner.actor", "-")
            log.info("%s %s %s %d %.1fms %s", client[0], scope.get("method", "-"), shown, status,
                     (time.perf_counter() - started) * 1000, actor)


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    error = (MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
             if code == 405 else RouteNotFound(f"no such endpoint: {request.url.path}")
             if code == 404 else MalformedRequest(str(getattr(exc, "detail", "bad request"))))
    status, document = problem(error, correlation_id="")
    if not request.url.path.startswith(MACHINE_PATHS):
        from server.web import not_found

        return not_found(request, status, document["error"]["message"])
    return json_response(document, status)


def build_app(options: ServerOptions) -> Starlette:
    """The application: the Terraform backend at /terraform, the REST API at /api/v1, and
    the web pages everywhere else."""
    from server import api, terraform, web

    routes: list[BaseRoute] = [*terraform.routes(), *api.routes(), *web.routes()]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found})
    app.state.options = options
    app.state.runtimes = RuntimePool(options.settings)
    app.add_middleware(AccessLog)
    return app
