"""The Content-Security-Policy in a real Chromium against a real uvicorn server: every demo role
visits every page, in the light and the dark color scheme, gets a live update over the
websocket, and the browser reports no violation of the policy and no script error.

Violations are collected two ways: the console messages Chromium prints for them, and a
``securitypolicyviolation`` listener installed before any page script runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from demo.users import demo_password
from tests.support import events as f
from tests.support.pages import every_page
from tests.support.server import Server, Servers

pytestmark = pytest.mark.browser

ROLES = ("alice", "erin", "admin")  # a team member, a manager, an admin

COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ` +
                    `${e.sourceFile}:${e.lineNumber} (${e.sample})`);
});
// For waiting without page-side eval (Playwright's wait_for_function evals, which the policy
// refuses): the socket's first message (sent once the server joined its groups) and htmx
// requests in flight, as attributes on <html>.
let busy = 0;
const mark = () => {
  if (busy > 0) document.documentElement.dataset.testBusy = String(busy);
  else delete document.documentElement.dataset.testBusy;
};
document.addEventListener("htmx:beforeRequest", () => { busy += 1; mark(); });
document.addEventListener("htmx:afterRequest", () => { busy = Math.max(0, busy - 1); mark(); });
document.addEventListener("htmx:wsAfterMessage", () => {
  document.documentElement.dataset.testWsMessage = "yes";
});
"""

# The page background in each scheme (static/css/app.css): the stylesheet applied.
BACKGROUND = {"light": "rgb(246, 247, 249)", "dark": "rgb(13, 17, 23)"}


@pytest.fixture
def world(uvicorn_servers: Servers) -> Iterator[tuple[Server, dict[str, Any]]]:
    tasks = {name: f.new_id() for name in ROLES}
    instances = {name: f.new_id() for name in ROLES}
    events: list[dict[str, Any]] = []
    for name in ROLES:
        events.append(f.workflow_started(instances[name], 0, workflow_name="expense_approval"))
        events.append(f.step_started(instances[name], 1))
        events.append(
            f.human_task_created(
                instances[name], 2, task_id=tasks[name], assignee=name, title=f"Task of {name}"
            )
        )
    events += f.one_of_each(f.new_id())
    events.append(f.human_task_created(f.new_id(), 3, assignee="nobody-by-that-name"))
    code = f"""
import json
from demo.users import ensure_demo_users
from workflows.ingest import ingest_events
from workflows.models import IngestToken
ensure_demo_users()
ingest_events(events=json.loads({json.dumps(json.dumps(events))}), source="test")
print(IngestToken.issue("csp-test")[1])
"""
    token = uvicorn_servers.setup(code)
    server = uvicorn_servers.start(token=token)
    yield server, {"tasks": tasks, "instances": instances}


def pages(name: str, ids: dict[str, Any]) -> list[str]:
    return every_page(task_id=ids["tasks"][name], instance_id=ids["instances"][name])


class Watch:
    """A page's CSP violations and script errors, from every document it loads."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.add_init_script(COLLECT)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"console: {message.text}")

    def collect(self, where: str) -> None:
        found = self.page.evaluate("window.__csp || []")
        self.problems += [f"{where}: {v}" for v in found]


def open_page(page: Any, url: str) -> int:
    """Load a page; on a live one, wait until its socket is subscribed and its re-sync done,
    so an update posted next is neither missed nor overwritten by the re-sync."""
    response = page.goto(url)
    page.wait_for_load_state("load")
    if page.locator("#live-socket").count():
        page.wait_for_selector(
            "html[data-live-socket=open][data-test-ws-message]:not([data-test-busy])",
            state="attached",
            timeout=15_000,
        )
        page.wait_for_timeout(50)  # htmx settles a swap 20 ms after it
    return int(response.status)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_of_any_role_violates_the_policy(
    world: tuple[Server, dict[str, Any]], browser: Any, scheme: str
) -> None:
    server, ids = world
    for name in ROLES:
        context = browser.new_context(color_scheme=scheme)
        page = context.new_page()
        watch = Watch(page)
        try:
            open_page(page, server.url + "/accounts/login/?next=/")
            watch.collect(f"{name} sign-in")
            page.fill("#id_username", name)
            page.fill("#id_password", demo_password(name))
            page.click("main button[type=submit]")
            page.wait_for_url(server.url + "/")
            background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            assert background == BACKGROUND[scheme]

            statuses = {}
            for path in pages(name, ids):
                statuses[path] = open_page(page, server.url + path)
                watch.collect(f"{name} {path}")
            # each role reaches what it may (a member's console pages are 404s, a non-staff
            # admin URL is the admin's sign-in page), and the pages rendered
            assert statuses["/"] == statuses[f"/tasks/{ids['tasks'][name]}/"] == 200
            if name == "admin":
                assert set(statuses.values()) == {200}, statuses
            if name == "erin":
                assert statuses["/workflows/history/audit/"] == 200

            # a live update while the page is open
            open_page(page, server.url + "/")
            event = f.human_task_created(
                f.new_id(), 5, task_id=f.new_id(), assignee=name, title=f"Live for {name}"
            )
            server.post_events([event])
            page.wait_for_selector(f"#task-row-{event['task_id']}", timeout=10_000)
            page.wait_for_timeout(300)  # the flash and the announcer settle
            watch.collect(f"{name} live update")

            # htmx requests under the policy: the search filters the list in place
            # (no wait_for_function: Playwright evaluates its predicate with eval, which the
            # policy refuses)
            page.fill("#id_q", f"Live for {name}")
            page.wait_for_selector(
                f"#task-row-{ids['tasks'][name]}", state="detached", timeout=10_000
            )
            assert page.locator(f"#task-row-{event['task_id']}").count() == 1
            watch.collect(f"{name} search")
        finally:
            context.close()
        assert watch.problems == [], watch.problems


def test_the_reports_workflow_select_submits_itself(
    world: tuple[Server, dict[str, Any]], browser: Any
) -> None:
    """Was an inline onchange handler; now static/js/app.js does it."""
    server, _ = world
    context = browser.new_context()
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(server.url + "/accounts/login/?next=/workflows/reports/")
        page.fill("#id_username", "erin")
        page.fill("#id_password", demo_password("erin"))
        page.click("main button[type=submit]")
        page.wait_for_url(server.url + "/workflows/reports/")
        page.select_option("#report-workflow", "expense_approval")
        page.wait_for_url("**/workflows/reports/?workflow=expense_approval")
        watch.collect("reports")
    finally:
        context.close()
    assert watch.problems == [], watch.problems
