"""The web pages, in-process: starlette's TestClient over the real app and database."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from commands.models import AcquireLock, ChangeOutputs, CreateSnapshot, CreateStack, SetValues
from infrastructure.runtime import Runtime
from server.web import LOGIN_COOKIE, SESSION_COOKIE
from tests.conftest import event_count
from tests.conftest import settings as settings_of
from tests.server.conftest import Client, admin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(db_path: Path) -> Iterator[Runtime]:
    """Stacks to look at: app depends on db and on a missing cache; a and b form a cycle;
    app has two snapshots (replicas 3 then 5) and is locked by `ci`."""
    runtime = Runtime(settings_of(db_path))
    service = runtime.service()
    service.create_stack(CreateStack(stack="db", description="the database"), admin())
    service.create_stack(CreateStack(stack="app", depends_on=["db", "cache"]), admin())
    service.create_stack(CreateStack(stack="a", depends_on=["b"]), admin())
    service.create_stack(CreateStack(stack="b", depends_on=["a"]), admin())
    service.set_values(SetValues(stack="app", values={"replicas": 3}), admin())
    service.create_snapshot(CreateSnapshot(stack="app", description="first"), admin())
    service.set_values(SetValues(stack="app", values={"replicas": 5, "image": "web:2"}), admin())
    service.change_outputs(ChangeOutputs(stack="app", set={"url": "https://app.example"}),
                           admin())
    service.create_snapshot(CreateSnapshot(stack="app", description="second"), admin())
    service.acquire_lock(AcquireLock(stack="app", ttl=timedelta(minutes=30), locked_by="ci",
                                     operation="deploy", reason="release 2"), admin())
    runtime.catch_up()
    yield runtime
    runtime.close()


@pytest.fixture
def writer(world: Runtime, client: Client, tokens: Callable[..., str]) -> TestClient:
    return client(tokens("ci"))


def text_of(page: str) -> str:
    """The page's text, roughly as a person reads it: tags out (and the event documents, which
    are folded away), entities read, spaces squeezed."""
    import html

    shown = re.sub(r'<pre class="document">.*?</pre>', " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", shown))).strip()


# ---- signing in ---------------------------------------------------------------------------

def test_without_a_token_only_the_login_page_is_shown(world: Runtime, client: Client) -> None:
    browser = client()
    for path in ("/", "/stacks/app", "/events?type=lock.*", "/graph"):
        answer = browser.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
    page = browser.get("/stacks/app")
    assert page.url.path == "/login"
    assert "Sign in" in page.text and "app" not in text_of(page.text).split("Sign in", 1)[1]
    assert 'name="next" value="/stacks/app"' in page.text
    posted = browser.post("/stacks/app/lock/release", follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/login"


def _login(browser: TestClient, token: str, next_page: str = "/") -> object:
    form = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return browser.post("/login", data={"csrf": csrf.group(1), "token": token, "next": next_page},
                        follow_redirects=False)


def test_the_login_form_sets_a_strict_http_only_session_cookie(
        world: Runtime, client: Client, tokens: Callable[..., str]) -> None:
    browser = client()
    answer = _login(browser, tokens("ci"), "/stacks/app")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/stacks/app"  # type: ignore[attr-defined]
    cookie = answer.headers["set-cookie"].lower()  # type: ignore[attr-defined]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    page = browser.get("/stacks/app")
    assert page.status_code == 200 and "Token ci" in text_of(page.text)


def test_the_session_cookie_is_secure_over_tls(world: Runtime, db_path: Path,
                                               tokens: Callable[..., str]) -> None:
    from server.app import ServerOptions, build_app

    app = build_app(ServerOptions(settings_of(db_path)))
    with TestClient(app, base_url="https://sloth.test") as browser:
        answer = _login(browser, tokens("ci"))
        cookie = answer.headers["set-cookie"].lower()  # type: ignore[attr-defined]
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    app.state.runtimes.close()


def test_a_wrong_token_or_a_forged_form_does_not_sign_in(
        world: Runtime, client: Client, tokens: Callable[..., str]) -> None:
    browser = client()
    wrong = _login(browser, "slr_not-a-token")
    assert wrong.status_code == 401  # type: ignore[attr-defined]
    assert "not known, or was revoked" in wrong.text  # type: ignore[attr-defined]
    assert SESSION_COOKIE not in browser.cookies
    forged = browser.post("/login", data={"csrf": "guessed", "token": tokens("ci")},
                          follow_redirects=False)
    assert forged.status_code == 403
    assert SESSION_COOKIE not in browser.cookies


def test_after_login_it_returns_only_to_a_page_of_this_server(
        world: Runtime, client: Client, tokens: Callable[..., str]) -> None:
    answer = _login(client(), tokens("ci"), "//evil.example/x")
    assert answer.headers["location"] == "/"  # type: ignore[attr-defined]


def test_a_revoked_token_ends_the_session(world: Runtime, client: Client,
                                          tokens: Callable[..., str]) -> None:
    browser = client()
    _login(browser, tokens("temp"))
    assert browser.get("/").status_code == 200
    world.tokens().revoke("temp", admin())
    world.catch_up()
    answer = browser.get("/", follow_redirects=False)
    assert answer.status_code == 303 and "expired=1" in answer.headers["location"]
    assert "revoked" in browser.get(answer.headers["location"]).text


def test_signing_out_forgets_the_session(world: Runtime, client: Client,
                                         tokens: Callable[..., str]) -> None:
    browser = client()
    _login(browser, tokens("ci"))
    page = browser.get("/")
    csrf = re.search(r'action="/logout".*?name="csrf" value="([^"]+)"', page.text, re.S)
    assert csrf is not None
    answer = browser.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_the_bearer_header_opens_pages_for_scripts(writer: TestClient) -> None:
    page = writer.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_a_bad_bearer_token_is_refused(world: Runtime, client: Client) -> None:
    answer = client("slr_nope").get("/")
    assert answer.status_code == 401 and "not known" in answer.text


def test_pages_carry_security_headers(writer: TestClient) -> None:
    headers = writer.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


# ---- the stack list -----------------------------------------------------------------------

def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/stacks/([^"]+)">', html)


def test_the_stack_list_shows_lock_and_drift_badges(writer: TestClient) -> None:
    page = writer.get("/")
    assert _names(page.text) == ["a", "app", "b", "db"]
    row = text_of(page.text.split('href="/stacks/app"', 1)[1].split("</tr>", 1)[0])
    assert "locked by ci" in row and "not checked" in row and "created" in row


def test_the_stack_list_filters_by_name_and_sorts_by_any_column(writer: TestClient) -> None:
    assert _names(writer.get("/?q=A").text) == ["a", "app"]
    assert _names(writer.get("/?sort=name&order=desc").text) == ["db", "b", "app", "a"]
    locked_first = _names(writer.get("/?sort=lock").text)
    assert locked_first[0] == "app"
    page = writer.get("/?sort=lock&order=asc")
    assert 'aria-sort="ascending"' in page.text
    assert writer.get("/?sort=colour").status_code == 422


def test_a_token_limited_to_some_stacks_sees_only_those(
        world: Runtime, client: Client, tokens: Callable[..., str]) -> None:
    limited = client(tokens("team", stacks=("a*",)))
    assert _names(limited.get("/").text) == ["a", "app"]
    assert limited.get("/stacks/db").status_code == 404
    events = text_of(limited.get("/events").text)
    assert "'db' created" not in events and "stack 'app' created" in events
    graph = limited.get("/graph").text
    assert 'data-stack="db"' not in graph and 'data-stack="app"' in graph


def test_a_drift_report_shows_as_a_badge_and_on_the_stack_page(
        world: Runtime, writer: TestClient, cli: Callable[..., object], tmp_path: Path) -> None:
    target = tmp_path / "motd"
    target.write_text("changed by hand\n")
    (tmp_path / "resources.yaml").write_text(
        f"resources:\n  - name: motd\n    type: file\n    path: {target}\n"
        "    content: \"hello\\n\"\n")
    applied = cli("stack", "resources", "apply", "db", "-f", str(tmp_path / "resources.yaml"))
    assert applied.exit_code == 0, applied.output  # type: ignore[attr-defined]
    cli("stack", "drift", "detect", "db")
    row = text_of(writer.get("/").text.split('href="/stacks/db"', 1)[1].split("</tr>", 1)[0])
    assert "drifted (1)" in row
    page = text_of(writer.get("/stacks/db").text)
    assert "1 resource, 0 in sync, 1 drifted, 0 unknown" in page
    assert "motd file content" in page
    assert _names(writer.get("/?sort=drift").text)[0] == "db"


# ---- one stack ----------------------------------------------------------------------------

def test_the_stack_page_shows_the_lock_holder_and_what_is_left_of_the_lease(
        writer: TestClient) -> None:
    page = text_of(writer.get("/stacks/app").text)
    assert "Holder ci" in page
    assert "Operation deploy" in page and "Reason release 2" in page
    assert re.search(r"Lease until [\d-]+ [\d:]+ ?: (29m \d+s|30m 0s) left", page)


def test_values_and_outputs_reach_the_page_through_one_formatting_function(
        writer: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from markupsafe import Markup

    from server import views

    page = text_of(writer.get("/stacks/app").text)
    assert 'replicas "5"' not in page and "replicas 5" in page
    assert 'url "https://app.example"' in page
    monkeypatch.setattr(views, "shown", lambda value, pretty=False: Markup("[masked]"))
    views.environment.cache_clear()
    try:
        page = writer.get("/stacks/app?from=v1&to=v2&version=6").text
    finally:
        views.environment.cache_clear()
    # The audit log's one-line summaries are written when events are projected, not here.
    masked = text_of(page.split('id="history-title"')[0])
    assert "https://app.example" not in masked and "web:2" not in masked
    assert masked.count("[masked]") >= 6


def test_control_and_bidi_characters_cannot_act_on_a_page(world: Runtime,
                                                          writer: TestClient) -> None:
    world.service().create_stack(CreateStack(stack="odd", description="a\u202ebc"), admin())
    world.service().set_values(SetValues(stack="odd", values={"k": "x\u202e<script>x</script>"}),
                               admin())
    world.catch_up()
    page = writer.get("/stacks/odd").text
    assert "\u202e" not in page
    assert "a\\u202ebc" in page and "x\\u202e" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


def test_two_versions_show_their_differences(writer: TestClient) -> None:
    page = text_of(writer.get("/stacks/app?from=v1&to=v2").text)
    assert "v1 → v2: 3 differences" in page
    assert "State values added image - web:2" in page.replace('"', "")
    assert "State values changed replicas 3 5" in page
    assert "Outputs added url" in page


def test_the_page_compares_as_snapshot_compare_does(world: Runtime, writer: TestClient,
                                                    cli: Callable[..., object]) -> None:
    import orjson

    result = cli("--json", "stack", "snapshot", "compare", "app", "v1", "current")
    compared = orjson.loads(result.stdout)  # type: ignore[attr-defined]
    page = text_of(writer.get("/stacks/app?from=v1&to=current").text)
    total = sum(len(compared[part][kind]) for part in ("values", "outputs", "dependencies",
                                                     "resources")
                for kind in ("added", "removed", "changed"))
    assert f"v1 → current: {total} differences" in page


def test_a_version_that_does_not_exist_is_said_on_the_page(writer: TestClient) -> None:
    answer = writer.get("/stacks/app?from=v1&to=v9")
    assert answer.status_code == 404
    assert "stack 'app' has no snapshot v9" in text_of(answer.text)
    assert "Holder ci" in text_of(answer.text)  # the rest of the page is still there


def test_the_time_slider_shows_the_stack_as_it_was(world: Runtime, writer: TestClient) -> None:
    from domain.names import stack_id
    from projections.queries.events import stack_history

    history = stack_history(world.reader(), str(stack_id("app")))
    first_set = min(entry.version for entry in history if entry.kind == "state.set")
    page = text_of(writer.get(f"/stacks/app?version={first_set}").text)
    assert f"As of change {first_set} of" in page
    assert "replicas 3" in page.split("As of change", 1)[1]
    fragment = writer.get(f"/stacks/app?version={first_set}",
                          headers={"HX-Request": "true", "HX-Target": "as-of"})
    assert fragment.text.lstrip().startswith('<div id="as-of"')
    assert "<html" not in fragment.text and "replicas" in fragment.text


def test_a_moment_before_the_stack_existed_is_said_in_the_panel(writer: TestClient) -> None:
    answer = writer.get("/stacks/app?at=2001-01-01T00:00:00Z")
    assert answer.status_code == 404
    assert "did not exist yet" in answer.text


def test_a_stack_that_does_not_exist_is_a_404_page(writer: TestClient) -> None:
    answer = writer.get("/stacks/nothing-here")
    assert answer.status_code == 404 and "stack 'nothing-here'" in text_of(answer.text)


# ---- lock actions -------------------------------------------------------------------------

def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_read_only_token_sees_no_buttons_and_its_posts_are_refused(
        world: Runtime, db_path: Path, client: Client, tokens: Callable[..., str]) -> None:
    browser = client()
    _login(browser, tokens("viewer", read_only=True))
    page = browser.get("/stacks/app").text
    assert "Force release" not in page and "Release my lock" not in page
    before = event_count(db_path)
    for action, data in (("release", {}), ("force-release", {"reason": "x"})):
        answer = browser.post(f"/stacks/app/lock/{action}", data={"csrf": _csrf(page), **data})
        assert answer.status_code == 403 and "read-only" in answer.text
    assert event_count(db_path) == before


def test_the_holder_releases_its_own_lock(world: Runtime, writer: TestClient) -> None:
    page = writer.get("/stacks/app").text
    assert "Release my lock" in page and "Force release" in page
    answer = writer.post("/stacks/app/lock/release", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/stacks/app?notice=released"
    after = text_of(writer.get(answer.headers["location"]).text)
    assert "Your lock was released." in after and "Unlocked." in after
    released = world.reader().execute(
        "SELECT actor, source FROM state_events WHERE event_type = 'lock.released'").fetchall()
    assert released == [("ci", "web")]


def test_someone_elses_lock_offers_only_force_release_with_a_reason(
        world: Runtime, db_path: Path, client: Client, tokens: Callable[..., str]) -> None:
    other = client(tokens("ops"))
    page = other.get("/stacks/app").text
    assert "Release my lock" not in page and "Force release" in page
    refused = other.post("/stacks/app/lock/release")
    assert refused.status_code in (403, 423) or refused.status_code == 409
    before = event_count(db_path)
    assert other.post("/stacks/app/lock/force-release", data={"reason": " "}).status_code == 422
    assert event_count(db_path) == before
    forced = other.post("/stacks/app/lock/force-release", data={"reason": "ci is stuck"},
                        follow_redirects=False)
    assert forced.status_code == 303
    row = world.reader().execute(
        "SELECT actor, source, data FROM state_events WHERE event_type = 'lock.force_released'"
    ).fetchone()
    assert row[0] == "ops" and row[1] == "web" and "ci is stuck" in row[2]


def test_a_session_post_without_the_form_token_is_refused(
        world: Runtime, db_path: Path, client: Client, tokens: Callable[..., str]) -> None:
    browser = client()
    _login(browser, tokens("ci"))
    before = event_count(db_path)
    answer = browser.post("/stacks/app/lock/release", data={"csrf": "0" * 64})
    assert answer.status_code == 403 and "another site" in answer.text
    assert event_count(db_path) == before
    page = browser.get("/stacks/app").text
    done = browser.post("/stacks/app/lock/release", data={"csrf": _csrf(page)},
                        follow_redirects=False)
    assert done.status_code == 303


# ---- the audit log ------------------------------------------------------------------------

def _event_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="event-(\d+)"', html)]


def test_the_audit_log_pages_by_cursor_newest_first(writer: TestClient) -> None:
    newest = _event_ids(writer.get("/events").text)
    assert newest == sorted(newest, reverse=True) and len(newest) > 6
    page = writer.get("/events?limit=4")
    first = _event_ids(page.text)
    assert first == newest[:4]
    older = re.search(r'href="\?([^"]*before=\d+)"', page.text)
    assert older is not None
    second = writer.get("/events?" + older.group(1).replace("&amp;", "&"))
    assert _event_ids(second.text) == newest[4:8]
    newer = re.search(r'href="\?([^"]*after=\d+)"', second.text)
    assert newer is not None
    assert _event_ids(writer.get("/events?" + newer.group(1).replace("&amp;", "&")).text) == \
        newest[:4]


def test_the_audit_log_takes_the_clis_filters(writer: TestClient) -> None:
    page = writer.get("/events?stack=app&type=snapshot.*")
    assert text_of(page.text).count("snapshot.created") == 2
    assert "state.set" not in text_of(page.text)
    assert writer.get("/events?actor=nobody").text.count('<tr id="event-') == 0
    assert writer.get("/events?since=yesterday").status_code == 422
    assert writer.get("/events?stack=ghost").status_code == 404


def test_each_event_expands_to_its_stored_document(writer: TestClient) -> None:
    page = writer.get("/events?type=lock.acquired").text
    document = re.search(r"<pre class=\"document\">(.*?)</pre>", page, re.S)
    assert document is not None
    assert "&#34;locked_by&#34;: &#34;ci&#34;" in document.group(1) or \
        "&quot;locked_by&quot;: &quot;ci&quot;" in document.group(1)
    assert "correlation_id" in document.group(1)


def test_new_events_come_as_rows_for_the_top_of_the_table(world: Runtime,
                                                          writer: TestClient) -> None:
    page = writer.get("/events?stack=db").text
    live = re.search(r'hx-get="(/events/live\?[^"]+)"', page)
    assert live is not None
    url = live.group(1).replace("&amp;", "&")
    assert writer.get(url).status_code == 204
    world.service().set_values(SetValues(stack="app", values={"x": 1}), admin())
    world.service().set_values(SetValues(stack="db", values={"size": "10G"}), admin())
    world.catch_up()
    fresh = writer.get(url)
    assert fresh.status_code == 200
    assert "state 'size' set" in text_of(fresh.text) and "'x'" not in text_of(fresh.text)
    assert 'hx-swap-oob="afterbegin:#event-rows"' in fresh.text
    again = re.search(r'hx-get="(/events/live\?[^"]+)"', fresh.text)
    assert again is not None
    assert writer.get(again.group(1).replace("&amp;", "&")).status_code == 204


# ---- dependencies -------------------------------------------------------------------------

def test_the_graph_highlights_cycles_and_missing_stacks(writer: TestClient) -> None:
    page = writer.get("/graph").text
    assert re.search(r'class="edge cycle" data-from="a" data-to="b"', page)
    assert re.search(r'class="edge cycle" data-from="b" data-to="a"', page)
    assert re.search(r'class="edge" data-from="app" data-to="db"', page)
    assert 'class="node status-missing" data-stack="cache"' in page
    assert 'class="node status-created in-cycle" data-stack="a"' in page
    assert "a → b → a" in text_of(page)
    assert "dependency cycle: a -&gt; b -&gt; a" in page


def test_one_stacks_neighbourhood_and_its_execution_levels(writer: TestClient) -> None:
    page = writer.get("/graph?stack=app").text
    assert 'data-stack="a"' not in page and 'data-stack="db"' in page
    assert 'class="node status-created focus" data-stack="app"' in page
    levels = re.findall(r'<span class="level">Level (\d)</span> (.*?)</li>', page)
    assert [(n, re.findall(r">([\w.-]+)</a>", names)) for n, names in levels] == [
        ("1", ["cache", "db"]), ("2", ["app"])]


# ---- the rest -----------------------------------------------------------------------------

def test_an_unknown_page_is_an_html_404_and_the_api_keeps_json(writer: TestClient) -> None:
    page = writer.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = writer.get("/api/v1/no/such")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_pages_script_is_served_here_and_is_the_vendored_file(writer: TestClient) -> None:
    served = writer.get("/static/htmx.min.js")
    assert served.status_code == 200
    record = (ROOT / "server" / "static" / "VENDORED.md").read_text()
    digest = hashlib.sha256(served.content).hexdigest()
    assert f"`{digest}`" in record and "2.0.11" in record
    assert writer.get("/static/style.css").status_code == 200


def test_the_login_form_needs_its_own_cookie(world: Runtime, client: Client) -> None:
    browser = client()
    form = browser.get("/login")
    assert LOGIN_COOKIE in form.headers["set-cookie"]
    assert "httponly" in form.headers["set-cookie"].lower()
