"""The web pages: the stacks, one stack, the audit log and the dependency graph, as HTML.

The pages take the API's tokens: a login form keeps the token in a session cookie
(HttpOnly, SameSite=Strict, Secure over TLS), and scripts may send the API's
`Authorization` header instead. Every page calls the queries the CLI calls and renders a
template; the two lock actions call the CLI's use cases. Failures map through
`server.errors.problem`, as the API's do, and read as a page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from domain.errors import DomainError, InvalidInput, NotFound, StackNotFound
from domain.invocation import Invocation, Source
from server.app import (
    READ_METHODS,
    Call,
    Caller,
    ServerOptions,
    authenticate,
    caller_of,
    correlation_id_of,
    read_body,
)
from server.errors import Forbidden, MalformedRequest, Unauthenticated, problem
from server.views import STATIC, environment

if TYPE_CHECKING:
    from infrastructure.runtime import Runtime
    from projections.queries.events import EventFilter
    from projections.queries.stacks import StackDetail

SESSION_COOKIE = "sloth_runner_session"
LOGIN_COOKIE = "sloth_runner_login"
"""Before a session: the login form's token against cross-site requests (double submit)."""
FORM_FIELD = "csrf"
MAX_FORM = 64 * 1024
PAGE = 100
MAX_PAGE = 1000
RUNS = 10
HISTORY = 25
POLL = "every 3s"
"""How often the audit log asks for new events (one indexed query when there are none)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Scripts and styles only from this server, no framing; pages hold state: never cached."""

TITLES = {400: "Bad request", 401: "Sign in", 403: "Not allowed", 404: "Not found",
          405: "Not allowed", 409: "Conflict", 413: "Too large", 422: "Invalid input",
          423: "Locked", 500: "Internal error", 503: "Unavailable"}
NOTICES = {"released": "Your lock was released.",
           "force-released": "The lock was force-released; the audit log records who and why."}


# ---- sessions ---------------------------------------------------------------------------

class LoginNeeded(Exception):
    """No token came with a page request (or the session's token is no longer live)."""

    def __init__(self, revoked: bool = False) -> None:
        super().__init__("sign in with a token")
        self.revoked = revoked


def form_token(secret: str) -> str:
    """What a session's forms carry against cross-site requests: bound to its token, and
    not to be made without it."""
    return hmac.new(secret.encode(), b"sloth-runner web form", hashlib.sha256).hexdigest()


def _signed_in(request: Request, runtime: Runtime) -> tuple[Caller, str | None]:
    """The caller, and the session's token when it came in the cookie (None: a header)."""
    if request.headers.get("authorization"):
        return authenticate(request, runtime), None
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginNeeded()
    try:
        return caller_of(secret, runtime), secret
    except Unauthenticated:
        raise LoginNeeded(revoked=True) from None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _local(target: str | None) -> str:
    """Where to go after signing in: a path of this server only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def form_of(request: Request, body: bytes) -> dict[str, str]:
    """A url-encoded form (the last value of each field)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and kind != "application/x-www-form-urlencoded":
        raise MalformedRequest("send the form as application/x-www-form-urlencoded")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest(f"the form cannot be read: {exc}") from None


# ---- pages ------------------------------------------------------------------------------

def html(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("caller", None)
    context.setdefault("form_token", "")
    context.setdefault("nav", "")
    text = environment().get_template(template).render(**context)
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


@dataclass
class Page:
    """One page request, as a handler sees it (in its worker thread)."""

    call: Call
    form_token: str
    """What this session's forms carry ('' when the token came in a header)."""

    @property
    def params(self) -> Any:
        return self.call.params

    def param(self, name: str) -> str:
        return str(self.call.params.get(name, "")).strip()

    def form(self) -> dict[str, str]:
        return form_of(self.call.request, self.call.body)

    def wants(self, target: str) -> bool:
        """An htmx request that replaces only the element with this id."""
        headers = self.call.request.headers
        return headers.get("hx-request") == "true" and headers.get("hx-target") == target

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return html(template, status, caller=self.call.caller, form_token=self.form_token,
                    **context)

    def fragment(self, template: str, block: str, **context: Any) -> HTMLResponse:
        """One block of a template, for htmx to swap into the page."""
        compiled = environment().get_template(template)
        rendered = compiled.blocks[block](compiled.new_context(
            {"caller": self.call.caller, "form_token": self.form_token, "nav": "", **context}))
        return HTMLResponse("".join(rendered), headers=SECURITY_HEADERS)

    def error(self, exc: BaseException) -> HTMLResponse:
        status, message = failure(exc, self.call.invocation.correlation_id)
        return self.render("error.html", status, title=TITLES.get(status, "Error"),
                           message=message, code=status)


PageHandler = Callable[[Page], Response]


def failure(exc: BaseException, correlation_id: str) -> tuple[int, str]:
    """The HTTP status and the one-line message of a failure, as the API maps them."""
    status, document = problem(exc, correlation_id=correlation_id)
    return status, str(document["error"]["message"])


def page(handler: PageHandler, *,
         changes: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """An ASGI endpoint for a page: signed in (or off to the login form), run in a worker
    thread, failures shown as a page. A POST needs, from a session, the form's token and,
    if it `changes` anything, a token that may write."""

    async def run(request: Request) -> Response:
        correlation_id = correlation_id_of(request)
        options: ServerOptions = request.app.state.options
        try:
            body = (await read_body(request, min(options.max_body, MAX_FORM))
                    if request.method not in READ_METHODS else b"")
            response: Response = await run_in_threadpool(_handle, request, body, handler,
                                                         correlation_id, changes)
        except LoginNeeded as exc:
            response = _to_login(request, exc.revoked)
        except Exception as exc:
            status, message = failure(exc, correlation_id)
            response = html("error.html", status, title=TITLES.get(status, "Error"),
                            message=message, code=status)
        response.headers["X-Correlation-Id"] = correlation_id
        return response

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _handle(request: Request, body: bytes, handler: PageHandler, correlation_id: str,
            changes: bool) -> Response:
    from infrastructure.clock import now

    options: ServerOptions = request.app.state.options
    runtime = request.app.state.runtimes.get()
    caller, secret = _signed_in(request, runtime)
    request.scope["sloth_runner.actor"] = caller.name
    invocation = Invocation(actor=caller.name, source=Source.WEB, correlation_id=correlation_id,
                            at=now())
    current = Page(Call(request, runtime, caller, invocation, body, options),
                   form_token(secret) if secret else "")
    try:
        if request.method not in READ_METHODS:
            if changes and caller.read_only:
                raise Forbidden(f"token '{caller.name}' is read-only: it cannot change anything")
            given = current.form().get(FORM_FIELD, "")
            if secret is not None and not hmac.compare_digest(given, current.form_token):
                raise Forbidden("the form is out of date or came from another site: reload "
                                "the page and try again")
        return handler(current)
    except Exception as exc:
        return current.error(exc)


def _to_login(request: Request, revoked: bool) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in READ_METHODS:
        target = "/"  # a form sent without a session is not sent again after signing in
    query = {"next": target} if target != "/" else {}
    if revoked:
        query["expired"] = "1"
    response = RedirectResponse("/login" + (f"?{urlencode(query)}" if query else ""), 303)
    if revoked:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request),
                               httponly=True, samesite="strict")
    return response


# ---- signing in and out -----------------------------------------------------------------

def _login_page(request: Request, status: int = 200, message: str = "") -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    expired = request.query_params.get("expired") == "1"
    response = html("login.html", status, login_token=token, message=message or (
        "Your session ended: the token is not known any more, or was revoked." if expired
        else ""), next=_local(request.query_params.get("next")))
    response.set_cookie(LOGIN_COOKIE, token, path="/login", secure=_secure(request),
                        httponly=True, samesite="strict")
    return response


async def login_form(request: Request) -> Response:
    """The login form: a token, as `sloth-runner tokens create` printed it."""
    return _login_page(request)


async def login(request: Request) -> Response:
    """Check the token, keep it in the session cookie, and go where the person was going."""
    try:
        fields = form_of(request, await read_body(request, MAX_FORM))
    except Exception as exc:
        status, message = failure(exc, correlation_id_of(request))
        return _login_page(request, status, message)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(fields.get(FORM_FIELD, ""), expected):
        return _login_page(request, 403, "The form is out of date or came from another site: "
                                         "try again.")
    secret = fields.get("token", "").strip()
    if not secret:
        return _login_page(request, 401, "Give a token (make one with: sloth-runner tokens "
                                         "create NAME).")
    runtimes = request.app.state.runtimes
    try:
        caller = await run_in_threadpool(lambda: caller_of(secret, runtimes.get()))
    except Unauthenticated as exc:
        return _login_page(request, 401, f"Not signed in: {exc.message}.")
    except Exception as exc:
        status, message = failure(exc, correlation_id_of(request))
        return _login_page(request, status, message)
    request.scope["sloth_runner.actor"] = caller.name
    response = RedirectResponse(_local(fields.get("next")), 303)
    response.set_cookie(SESSION_COOKIE, secret, path="/", secure=_secure(request),
                        httponly=True, samesite="strict")
    response.delete_cookie(LOGIN_COOKIE, path="/login", secure=_secure(request), httponly=True,
                           samesite="strict")
    return response


def logout(current: Page) -> Response:
    """Forget the session (the token itself stays valid: `tokens revoke` ends it)."""
    request = current.call.request
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True,
                           samesite="strict")
    return response


# ---- the stack list ---------------------------------------------------------------------

def _flag(current: Page, name: str) -> bool:
    return current.param(name).lower() in ("1", "true", "yes", "on")


def _whole(current: Page, name: str, *, low: int = 1, high: int = 2**63 - 1) -> int | None:
    value = current.param(name)
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidInput(f"invalid {name} '{value[:40]}': a whole number from {low} to {high}",
                           field=name)
    return int(value)


def stacks_page(current: Page) -> Response:
    """Every stack the token may see: status, last run, lock and drift; filtered and sorted."""
    from infrastructure.clock import now
    from projections.queries.locks import list_locks
    from projections.queries.resources import drift_summaries
    from projections.queries.stacks import list_stacks
    from server.views import SORTS, matching, sorted_rows, stack_rows

    sort, order = current.param("sort") or "name", current.param("order") or "asc"
    if sort not in SORTS:
        raise InvalidInput(f"invalid sort '{sort[:40]}': one of {', '.join(SORTS)}", field="sort")
    if order not in ("asc", "desc"):
        raise InvalidInput(f"invalid order '{order[:40]}': asc or desc", field="order")
    text, everything = current.param("q"), _flag(current, "all")
    connection = current.call.runtime.reader()
    caller = current.call.caller
    stacks = [s for s in list_stacks(connection, include_destroyed=everything)
              if caller.may_see(s.name)]
    locks = {lock.stack_id: lock for lock in list_locks(connection)}
    rows = stack_rows(stacks, locks, drift_summaries(connection), now())
    shown = sorted_rows(matching(rows, text) if text else rows, sort, order == "desc")
    kept = {key: value for key, value in (("q", text), ("all", "1" if everything else ""))
            if value}
    links = {column: "?" + urlencode({**kept, "sort": column, "order": (
        "desc" if column == sort and order == "asc" else "asc")}) for column in SORTS}
    return current.render("stacks.html", nav="stacks", rows=shown, total=len(rows), q=text,
                          everything=everything, sort=sort, order=order, links=links)


# ---- one stack --------------------------------------------------------------------------

@dataclass(frozen=True)
class Attempt:
    """A part of a page that may fail on its own (a bad version, a moment before the stack
    existed): the rest of the page still shows, with this part's message."""

    value: Any = None
    message: str = ""
    status: int = 200


def _attempt(work: Callable[[], Any], correlation_id: str) -> Attempt:
    try:
        return Attempt(work())
    except (DomainError, MalformedRequest) as exc:
        status, message = failure(exc, correlation_id)
        return Attempt(None, message, status)


def _as_of(current: Page, stack: StackDetail) -> dict[str, Any]:
    """The time slider's position and the stack as it was there (by replay)."""
    from domain.timestamps import parse_timestamp
    from projections.queries.events import stack_event
    from projections.timetravel import stack_as_of

    call = current.call
    connection = call.runtime.reader()
    at = current.param("at")
    wanted = _whole(current, "version", high=max(stack.event_version, 1))
    if not at and wanted is None:
        return {"version": stack.event_version, "at": "", "past": Attempt(), "event": None}

    def replay() -> Any:
        if at:
            moment = parse_timestamp(at, what="at")
            return stack_as_of(call.runtime.store(), connection, stack.name, at=moment)
        entry = stack_event(connection, stack.id, wanted or 1)
        if entry is None:
            raise NotFound(f"stack '{stack.name}' has no change {wanted}")
        return stack_as_of(call.runtime.store(), connection, stack.name, event_id=entry.event_id)

    past = _attempt(replay, call.invocation.correlation_id)
    version = past.value.stream_version if past.value is not None else (
        wanted or stack.event_version)
    event = stack_event(connection, stack.id, version) if past.value is not None else None
    return {"version": version, "at": at, "past": past, "event": event}


def stack_page(current: Page) -> Response:
    """One stack: status, lock, values and outputs, drift, runs, snapshots, time travel."""
    from infrastructure.clock import now
    from projections.queries.events import stack_history
    from projections.queries.executions import list_executions
    from projections.queries.locks import find_lock
    from projections.queries.resources import find_drift_report
    from projections.queries.stacks import find_stack
    from projections.queries.versions import list_versions
    from projections.versions import CURRENT, compare_versions
    from server.views import holds, lease_left, lock_state

    call = current.call
    name = call.stack()
    connection = call.runtime.reader()
    stack = find_stack(connection, name)
    if stack is None:
        raise StackNotFound(name)
    as_of = _as_of(current, stack)
    if current.wants("as-of"):
        return current.fragment("stack.html", "as_of", stack=stack, **as_of)
    versions = list_versions(connection, stack.id, include_deleted=True)
    live = [f"v{v.version}" for v in versions if v.deleted_at is None]
    first, second = current.param("from"), current.param("to")
    comparison = Attempt()
    if first and second:
        comparison = _attempt(lambda: compare_versions(call.runtime.store(), connection, name,
                                                       first, second),
                              call.invocation.correlation_id)
    lock = find_lock(connection, stack.id)
    moment = now()
    held = lock_state(lock, moment)
    status = max(comparison.status, as_of["past"].status)
    return current.render(
        "stack.html", status, nav="stacks", stack=stack, lock=lock, lock_status=held,
        lease=lease_left(lock.expires_at, moment) if lock else "",
        mine=lock is not None and held == "LOCKED" and holds(lock, call.caller.name),
        drift=find_drift_report(connection, stack.id),
        runs=list_executions(connection, stack.id, RUNS), versions=versions,
        history=stack_history(connection, stack.id, HISTORY), comparison=comparison,
        choices=[CURRENT, *live], first=first or (live[1] if len(live) > 1 else CURRENT),
        second=second or (live[0] if len(live) > 1 else CURRENT),
        notice=NOTICES.get(current.param("notice"), ""), **as_of)


def release_lock(current: Page) -> Response:
    """Release the caller's own lock (the CLI's `stack lock release`)."""
    from commands.models import ReleaseLock

    call = current.call
    name = call.stack()
    call.runtime.service().release_lock(ReleaseLock(stack=name), call.invocation)
    call.written()
    return RedirectResponse(f"/stacks/{name}?notice=released", 303)


def force_release_lock(current: Page) -> Response:
    """Remove anyone's lock, with a reason (the CLI's `stack lock force-release`)."""
    from commands.models import ForceReleaseLock

    call = current.call
    name = call.stack()
    form = current.form()
    reason = form.get("reason", "").strip()
    if not reason:
        raise InvalidInput("give a reason for forcing the lock open: the audit log keeps it",
                           field="reason")
    command = ForceReleaseLock(stack=name, reason=reason, lock_id=form.get("lock_id") or None)
    call.runtime.service().force_release_lock(command, call.invocation)
    call.written()
    return RedirectResponse(f"/stacks/{name}?notice=force-released", 303)


# ---- the audit log ----------------------------------------------------------------------

FILTERS = ("stack", "type", "actor", "since", "until")


def _event_filter(current: Page) -> tuple[EventFilter, dict[str, str]]:
    """The CLI's filters of `events list`, and the values given (for the form and links)."""
    from domain.names import stack_id
    from domain.timestamps import parse_timestamp, to_text
    from projections.queries.events import EventFilter
    from projections.queries.stacks import is_known_stack

    given = {name: current.param(name) for name in FILTERS if current.param(name)}
    call = current.call
    identity = None
    if "stack" in given:
        identity = str(stack_id(call.stack(given["stack"])))
        if not is_known_stack(call.runtime.reader(), identity):
            raise StackNotFound(given["stack"])
    since, until = given.get("since"), given.get("until")
    return EventFilter(
        stack_id=identity, type_pattern=given.get("type"), actor=given.get("actor"),
        since=to_text(parse_timestamp(since, what="since")) if since else None,
        until=to_text(parse_timestamp(until, what="until")) if until else None,
        stack_ids=call.visible_stack_ids()), given


def events_page(current: Page) -> Response:
    """The audit log, newest first, a page at a time; new events appear as they come."""
    from projections.queries.events import EventFilter, list_events

    connection = current.call.runtime.reader()
    before, after = _whole(current, "before"), _whole(current, "after", low=0)
    if before is not None and after is not None:
        raise InvalidInput("give before or after, not both")
    limit = _whole(current, "limit", high=MAX_PAGE) or PAGE
    query, given = _event_filter(current)
    found = list_events(connection, replace(query, limit=limit + 1, before=before, after=after))
    more = len(found) > limit
    records = (found[:limit] if after is not None else found[-limit:]) if more else found
    newest_first = records[::-1]
    kept = {**given, **({"limit": str(limit)} if limit != PAGE else {})}
    older = newer = None
    if records and (more if after is None else True):
        older = "?" + urlencode({**kept, "before": records[0].id})
    if records and (before is not None or (after is not None and more)):
        newer = "?" + urlencode({**kept, "after": records[-1].id})
    live = None
    if before is None and after is None:
        head = list_events(connection, EventFilter(limit=1))
        live = "/events/live?" + urlencode({**given, "after": head[0].id if head else 0})
    return current.render("events.html", nav="events", records=newest_first, given=given,
                          limit=limit, older=older, newer=newer, live=live, fresh=[],
                          first_page="?" + urlencode(kept) if kept else "/events")


def events_live(current: Page) -> Response:
    """Events after a position that match the filters, as rows for the top of the table
    (204 when there are none: the page asks again later)."""
    from projections.queries.events import list_events

    after = _whole(current, "after", low=0) or 0
    query, given = _event_filter(current)
    records = list_events(current.call.runtime.reader(), replace(query, after=after, limit=PAGE))
    if not records:
        return Response(status_code=204, headers=SECURITY_HEADERS)
    live = "/events/live?" + urlencode({**given, "after": records[-1].id})
    return current.fragment("events.html", "live", fresh=records[::-1], live=live)


# ---- dependencies -----------------------------------------------------------------------

def graph_page(current: Page) -> Response:
    """The dependency graph of every stack, or of one stack's neighbourhood, with the
    execution levels of `deps order` and the cycles highlighted."""
    from domain.dependencies import DESTROYED, MISSING, DependencyCycle
    from projections.graph import DependencyGraph
    from server.graphsvg import draw

    call = current.call
    wanted = current.param("stack")
    focus = call.stack(wanted) if wanted else None
    graph = DependencyGraph.load(call.runtime.reader())
    if focus is not None and not graph.exists(focus):
        raise StackNotFound(focus)
    caller = call.caller
    members = {name for name in (graph.neighbourhood(focus) if focus else graph.graph.nodes)
               if caller.may_see(name)}
    cycles = graph.cycles(within=members)
    try:
        levels = [[name for name in level if caller.may_see(name)]
                  for level in graph.order([focus] if focus else None)]
        order_problem = ""
    except DependencyCycle as exc:
        levels, order_problem = [], str(exc)
    drawing = draw(graph.graph.subgraph(members), {n: graph.status(n) for n in members},
                   cycles, focus)
    return current.render(
        "graph.html", nav="graph", focus=focus, drawing=drawing, cycles=cycles,
        levels=[level for level in levels if level], order_problem=order_problem,
        missing=sorted(n for n in members if graph.status(n) == MISSING),
        destroyed=sorted(n for n in members if graph.status(n) == DESTROYED))


# ---- routing ----------------------------------------------------------------------------

def not_found(request: Request, status: int, message: str) -> Response:
    """A path that is no page (or a method a page does not take), as a page."""
    return html("error.html", status, title=TITLES.get(status, "Error"), message=message,
                code=status)


def routes() -> list[BaseRoute]:
    """The pages, the login form and the static files (scripts and styles, served here)."""
    return [
        Route("/", page(stacks_page), methods=["GET"], name="stacks"),
        Route("/stacks/{stack}", page(stack_page), methods=["GET"], name="stack"),
        Route("/stacks/{stack}/lock/release", page(release_lock), methods=["POST"],
              name="release_lock"),
        Route("/stacks/{stack}/lock/force-release", page(force_release_lock),
              methods=["POST"], name="force_release_lock"),
        Route("/events", page(events_page), methods=["GET"], name="events"),
        Route("/events/live", page(events_live), methods=["GET"], name="events_live"),
        Route("/graph", page(graph_page), methods=["GET"], name="graph"),
        Route("/login", login_form, methods=["GET"], name="login_form"),
        Route("/login", login, methods=["POST"], name="login"),
        Route("/logout", page(logout, changes=False), methods=["POST"], name="logout"),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
