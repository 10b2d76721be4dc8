"""The web pages in a real browser: Debian's chromium, driven by Playwright, against a real
`sloth-runner serve` over a database that the CLI filled (stacks, a lock, snapshots,
changes, a workflow run).

Each test looks at a page as a person would and keeps a screenshot (under the test's
temporary directory, and in $SLOTH_RUNNER_ARTIFACTS when that names a directory).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import SCRIPT
from tests.support.serve import free_port, wait_until_listening

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WORKFLOW = """
local deploy = task("deploy")
    :description("Roll out the new image")
    :command(function()
        state.set("deployed", "web:2")
        stack.set_output("endpoint", "https://app.example")
        return true, "rolled out"
    end)

local check = task("check")
    :depends_on({ "deploy" })
    :command(function() return true, "healthy" end)

workflow.define("release"):tasks({ deploy, check })
"""


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install playwright (the dev extra)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser at {CHROMIUM}: apt-get install chromium (.ci/run does)"
    return None


@dataclass
class Site:
    """A served database, what is in it, and where screenshots go."""

    url: str
    env: dict[str, str]
    tokens: dict[str, str]
    shots: Path
    playwright: Playwright
    profiles: Path
    contexts: list[BrowserContext] = field(default_factory=list)
    artifacts: Path | None = None
    """Where screenshots are copied too: $SLOTH_RUNNER_ARTIFACTS/web-pages, if it names a
    directory (read before each test's isolated environment drops SLOTH_RUNNER_*)."""

    def cli(self, *args: str) -> str:
        result = subprocess.run([SCRIPT, *args], env=self.env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        return result.stdout

    def browser(self, token: str, *, javascript: bool = True) -> Page:
        """A fresh browser profile, signed in through the login form with this token."""
        profile = self.profiles / f"profile-{len(self.contexts)}"
        context = self.playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
        self.contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text)
                if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.problems = problems  # type: ignore[attr-defined]
        page.goto(self.url + "/")
        assert page.url.startswith(self.url + "/login")
        if not (self.shots / "login.png").exists():
            self.shot(page, "login", full_page=False)
        page.get_by_label("Token").fill(self.tokens[token])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.url + "/")
        return page

    def shot(self, page: Page, name: str, *, full_page: bool = True) -> None:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if self.artifacts is not None:
            self.artifacts.mkdir(exist_ok=True)
            shutil.copy(path, self.artifacts / path.name)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    problem = _missing_browser()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("web")
    home = root / "home"
    home.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLOTH_RUNNER_")},
           "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "SLOTH_RUNNER_ACTOR": "alice@laptop",
           "SLOTH_RUNNER_DB": str(root / "stacks.db")}
    shots = root / "screenshots"
    shots.mkdir()
    site = Site("", env, {}, shots, None, root)  # type: ignore[arg-type]
    target = os.environ.get("SLOTH_RUNNER_ARTIFACTS")
    if target and Path(target).is_dir():
        site.artifacts = Path(target) / "web-pages"
    _fill(site, root)
    port = free_port()
    log = root / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([SCRIPT, "serve", "--port", str(port)], env=env,
                                  stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_listening(server, port, log)
        site.url = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            site.playwright = playwright
            yield site
            for context in site.contexts:
                context.close()
    finally:
        server.terminate()
        server.wait(timeout=60)


def _fill(site: Site, root: Path) -> None:
    """What a team's week leaves behind: stacks with dependencies (one cycle), two
    snapshots with a change between them, a workflow run, and a lock held by `admin`."""
    site.cli("stack", "create", "network", "--description", "VPC and subnets")
    site.cli("stack", "create", "database", "--depends-on", "network")
    site.cli("stack", "create", "app", "--description", "The web application",
             "--depends-on", "database", "--depends-on", "cache")
    site.cli("stack", "create", "billing", "--depends-on", "ledger")
    site.cli("stack", "create", "ledger", "--depends-on", "billing")
    site.cli("stack", "state", "set", "app", "replicas=3", "image=web:1")
    site.cli("stack", "snapshot", "create", "app", "--description", "before the upgrade")
    site.cli("stack", "state", "set", "app", "replicas=5", "image=web:2")
    site.cli("stack", "snapshot", "create", "app", "--description", "after the upgrade")
    workflow = root / "release.sloth"
    workflow.write_text(WORKFLOW)
    site.cli("run", "release", "--file", str(workflow), "--stack", "app")
    site.cli("stack", "lock", "acquire", "app", "--locked-by", "admin", "--operation",
             "deploy", "--reason", "release 2.0", "--ttl", "2h")
    for name, options in (("admin", ()), ("viewer", ("--read-only",))):
        made = site.cli("tokens", "create", name, *options, "--json")
        site.tokens[name] = re.search(r'"token": "([^"]+)"', made).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def admin(site: Site) -> Page:
    return site.browser("admin")


def _no_problems(page: Page) -> None:
    """Nothing the browser refused (a script or style blocked by the CSP) or failed on."""
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_stack_list_shows_who_holds_the_lock(site: Site, admin: Page) -> None:
    row = admin.get_by_role("row").filter(has=admin.get_by_role("link", name="app", exact=True))
    assert "locked by admin" in row.inner_text()
    assert admin.get_by_role("row").count() == 1 + 5
    admin.get_by_label("Name contains").fill("a")
    admin.get_by_role("button", name="Filter").click()
    names = admin.locator("tbody th[scope=row]").all_inner_texts()
    assert names == ["app", "database"]
    admin.get_by_role("link", name="Name").click()  # sorted the other way
    assert admin.locator("tbody th[scope=row]").all_inner_texts() == names[::-1]
    admin.goto(site.url + "/")
    site.shot(admin, "stacks", full_page=False)
    _no_problems(admin)


def test_the_stack_page_shows_the_holder_the_runs_and_a_diff(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/")
    admin.get_by_role("link", name="app", exact=True).click()
    lock = admin.locator("dl.lock")
    assert "admin" in lock.locator("dd.holder").inner_text()
    assert re.search(r"(1h 59m|2h 0m) left", lock.locator("dd.lease").inner_text())
    run = admin.locator("details.run").first
    assert "release" in run.locator("summary").inner_text()
    tasks = run.locator("table.tasks tbody th").all_inner_texts()
    assert tasks == ["deploy", "check"]
    admin.get_by_label("Compare").select_option("v1")
    admin.get_by_label("with").select_option("v2")
    admin.get_by_role("button", name="Compare").click()
    diff = admin.locator("#diff")
    assert "v1 → v2: 2 differences" in diff.locator("h3").inner_text()
    replicas = diff.get_by_role("row").filter(has_text="replicas").inner_text()
    assert re.search(r'changed\s+replicas\s+"3"\s+"5"', replicas)
    site.shot(admin, "stack")
    admin.locator("#snapshots-title").scroll_into_view_if_needed()
    admin.evaluate("window.scrollBy(0, -120)")
    site.shot(admin, "stack-diff", full_page=False)
    admin.evaluate("window.scrollTo(0, 0)")
    site.shot(admin, "stack-lock", full_page=False)
    _no_problems(admin)


def test_the_time_slider_replays_the_stack(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/stacks/app")
    slider = admin.get_by_label(re.compile("Change 1 to"))
    slider.focus()
    admin.keyboard.press("Home")  # the first change: the stack was just created
    panel = admin.locator("#as-of")
    panel.get_by_text("As of change 1 of").wait_for()
    assert "stack.created" in panel.inner_text()
    assert "replicas" not in panel.inner_text()
    for _ in range(4):
        admin.keyboard.press("ArrowRight")
    panel.get_by_text("As of change 5 of").wait_for()
    assert admin.url.endswith("/stacks/app"), "the slider changed the panel, not the page"
    panel.scroll_into_view_if_needed()
    site.shot(admin, "time-travel", full_page=False)
    _no_problems(admin)


def test_a_new_event_appears_without_reloading(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/events")
    rows = admin.locator("#event-rows tr")
    before = rows.count()
    admin.evaluate("window.notReloaded = true")
    site.cli("stack", "state", "set", "database", "size=100G")
    arrived = admin.locator("#event-rows tr.new").filter(has_text="state 'size' set")
    arrived.wait_for(timeout=20_000)
    assert rows.count() == before + 1
    assert admin.evaluate("window.notReloaded") is True
    assert rows.first.get_attribute("class") == "new"
    arrived.locator("summary").click()
    document = arrived.locator("pre.document")
    document.wait_for(state="visible", timeout=20_000)
    assert '"size"' in document.inner_text()
    site.shot(admin, "events", full_page=False)
    _no_problems(admin)


def test_the_graph_highlights_the_cycle(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/graph")
    cycle_edges = admin.locator("svg path.edge.cycle")
    assert cycle_edges.count() == 2
    assert sorted(admin.locator("svg g.node.in-cycle").evaluate_all(
        "nodes => nodes.map(n => n.dataset.stack)")) == ["billing", "ledger"]
    assert admin.locator('svg g.node.status-missing[data-stack="cache"]').count() == 1
    colour = cycle_edges.first.evaluate("edge => getComputedStyle(edge).stroke")
    assert colour == "rgb(198, 40, 40)"
    assert "billing → ledger → billing" in admin.get_by_role("alert").inner_text()
    site.shot(admin, "graph", full_page=False)
    admin.goto(site.url + "/graph?stack=app")
    levels = admin.locator("ol.levels li").all_inner_texts()
    assert [re.sub(r"\s+", " ", level) for level in levels] == [
        "Level 1 cache, network", "Level 2 database", "Level 3 app"]
    admin.locator('svg a:has(g[data-stack="database"])').click()
    admin.wait_for_url(site.url + "/stacks/database")
    _no_problems(admin)


def test_the_keyboard_reaches_the_content_first(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/")
    admin.keyboard.press("Tab")
    assert admin.evaluate("document.activeElement.textContent") == "Skip to content"
    admin.keyboard.press("Enter")
    admin.keyboard.press("Tab")
    assert admin.evaluate("document.activeElement.id") == "q"  # the filter, not the menu
    labels = admin.locator("input:not([type=hidden]), select").evaluate_all(
        "fields => fields.filter(f => !f.labels || f.labels.length === 0).map(f => f.name)")
    assert labels == []


def test_without_javascript_everything_but_the_live_parts_works(site: Site) -> None:
    page = site.browser("viewer", javascript=False)
    page.goto(site.url + "/stacks/app")
    page.get_by_label("Compare").select_option("v1")
    page.get_by_label("with").select_option("v2")
    page.get_by_role("button", name="Compare").click()
    assert "v1 → v2: 2 differences" in page.locator("#diff h3").inner_text()
    page.get_by_label("Or as of a moment").fill("2001-01-01")
    page.locator("form.at").get_by_role("button", name="Show").click()
    assert "did not exist yet" in page.locator("#as-of").inner_text()
    page.goto(site.url + "/stacks/app?version=1")
    assert "As of change 1 of" in page.locator("#as-of").inner_text()
    page.goto(site.url + "/events?type=lock.*")
    page.locator("#event-rows summary").first.click()
    page.locator("#event-rows pre.document").first.wait_for(state="visible", timeout=20_000)
    page.goto(site.url + "/graph")
    assert page.locator("svg path.edge.cycle").count() == 2


def test_a_read_only_token_sees_no_buttons_and_its_posts_are_refused(site: Site) -> None:
    viewer = site.browser("viewer")
    viewer.goto(site.url + "/stacks/app")
    assert "read-only" in viewer.locator("header").inner_text()
    assert "admin" in viewer.locator("dd.holder").inner_text()
    assert viewer.get_by_role("button", name="Force release").count() == 0
    assert viewer.get_by_role("button", name="Release my lock").count() == 0
    csrf = viewer.locator('form[action="/logout"] input[name=csrf]').get_attribute("value")
    refused = viewer.request.post(site.url + "/stacks/app/lock/force-release",
                                  form={"csrf": csrf or "", "reason": "let me in"})
    assert refused.status == 403 and "read-only" in refused.text()
    viewer.reload()
    assert "admin" in viewer.locator("dd.holder").inner_text()
    site.shot(viewer, "read-only", full_page=False)
    _no_problems(viewer)


def test_the_holder_releases_its_lock_with_a_button(site: Site, admin: Page) -> None:
    admin.goto(site.url + "/stacks/app")
    admin.get_by_role("button", name="Release my lock").click()
    admin.get_by_role("status").filter(has_text="Your lock was released.").wait_for(
        state="visible", timeout=20_000)
    assert "Unlocked." in admin.locator("section", has=admin.locator("#lock-title")).inner_text()
    assert '"lock.released"' in site.cli("--json", "events", "list", "--stack", "app",
                                         "--type", "lock.released")
    _no_problems(admin)

