"""axe-core (the script the PyPI package axe-playwright-python ships, no CDN) in a real
Chromium against a real uvicorn server: every page, as a team member, a manager and an admin,
in the light and the dark color scheme, has no violation of any rule axe runs by default
(WCAG 2.x A and AA, colour contrast included, and its best practices).

The site's Content-Security-Policy refuses injected scripts and eval, so this test's browser
context alone bypasses it; tests/core/test_csp_browser.py checks the policy itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from demo.users import demo_password
from tests.support import events as f
from tests.support.pages import every_page
from tests.support.server import Server, Servers

pytestmark = pytest.mark.browser

axe = pytest.importorskip("axe_playwright_python.base")

ROLES = ("alice", "erin", "admin")  # a team member, a manager, an admin
EXTRA_PAGES = ("/settings/",)


@pytest.fixture
def world(uvicorn_servers: Servers) -> Iterator[tuple[Server, dict[str, Any]]]:
    tasks = {name: f.new_id() for name in ROLES}
    instances = {name: f.new_id() for name in ROLES}
    events: list[dict[str, Any]] = []
    for name in ROLES:
        done = f.new_id()
        events += [
            f.workflow_started(instances[name], 0, workflow_name="expense_approval"),
            f.step_started(instances[name], 1),
            f.human_task_created(
                instances[name],
                2,
                task_id=tasks[name],
                assignee=name,
                title=f"Task of {name}",
                due_at=f.iso(60 * 24 * 400),
                form_schema={
                    "type": "object",
                    "properties": {"amount": {"type": "number"}, "ok": {"type": "boolean"}},
                },
            ),
            # a completed task (the "Completed" badge, Done, the timelines)
            f.human_task_created(instances[name], 3, task_id=done, assignee=name),
            f.human_task_completed(
                instances[name], 4, task_id=done, completed_by=name, output={"amount": 12500.5}
            ),
        ]
    queued, queue_instance = f.new_id(), f.new_id()
    events += [
        f.workflow_started(queue_instance, 0, workflow_name="expense_approval"),
        f.human_task_created(
            queue_instance,
            2,
            task_id=queued,
            assignee="finance",
            title="Approve expense EXP-2026-3954: 823.10 EUR (meals) for the offsite",
            description="bob claims 823.10 EUR for meals. Check the receipts against the policy.",
            due_at=f.iso(60 * 24 * 400),
        ),
    ]
    events += f.one_of_each(f.new_id())
    canceled = f.new_id()
    events += [f.workflow_started(canceled, 0), f.workflow_canceled(canceled, 5)]
    events.append(f.human_task_created(f.new_id(), 3, assignee="nobody-by-that-name"))
    code = f"""
import json
from demo.users import ensure_demo_users
from workflows.ingest import ingest_events
from workflows.models import IngestToken
ensure_demo_users()
ingest_events(events=json.loads({json.dumps(json.dumps(events))}), source="test")
print(IngestToken.issue("axe-test")[1])
"""
    token = uvicorn_servers.setup(code)
    server = uvicorn_servers.start(token=token)
    yield server, {"tasks": tasks, "instances": instances, "queued": queued}


def violations(page: Any) -> list[str]:
    """axe's violations on the page as it is now, one line per rule and element."""
    page.evaluate(axe.AXE_SCRIPT)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    lines = []
    for v in result["violations"]:
        for node in v["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"{v['id']} ({v['impact']}) at {node['target']}: {summary}")
    return lines


def sign_in(page: Any, server: Server, name: str) -> None:
    page.goto(server.url + "/accounts/login/?next=/")
    page.fill("#id_username", name)
    page.fill("#id_password", demo_password(name))
    page.click("main button[type=submit]")
    page.wait_for_url(server.url + "/")


def test_no_page_has_an_axe_violation_in_either_scheme(
    world: tuple[Server, dict[str, Any]], browser: Any
) -> None:
    server, ids = world
    problems: list[str] = []
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            context.clear_cookies()
            page.goto(server.url + "/accounts/login/")
            problems += [f"{scheme} sign-in page: {v}" for v in violations(page)]
            for name in ROLES:
                context.clear_cookies()
                sign_in(page, server, name)
                paths = every_page(task_id=ids["tasks"][name], instance_id=ids["instances"][name])
                for path in [*paths, *EXTRA_PAGES]:
                    if path.startswith("/admin/"):
                        continue  # Django's own admin: not this site's templates
                    page.goto(server.url + path)  # a member's console pages: the 404 page
                    page.wait_for_load_state("load")
                    problems += [f"{scheme} {name} {path}: {v}" for v in violations(page)]
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


# What a phone user taps: at least 44 by 44 CSS pixels (WCAG 2.5.5).
TAP_TARGETS = "button, a.button, summary, .mainnav a, .account a, label.tap, .chip, .pager a"
SMALL_TARGETS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map((el) => [el, el.getBoundingClientRect()])
  .filter(([el, r]) => r.width > 0 && (r.width < 44 || r.height < 44))
  .map(([el, r]) =>
    `${el.outerHTML.slice(0, 90)} ${Math.round(r.width)}x${Math.round(r.height)}`)"""


def test_layout_on_a_phone_and_at_1280_px(
    world: tuple[Server, dict[str, Any]], browser: Any
) -> None:
    """On a phone the filters fold behind a "Filters" button and every tap target is at
    least 44 px; at 1280 px Team queues leaves the task column room to read."""
    server, _ = world
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = phone.new_page()
    try:
        sign_in(page, server, "admin")  # the admin sees every nav link and the console
        for path, field in [
            ("/", "#id_q"),
            ("/queues/", "#id_q"),
            ("/done/", "#id_q"),
            ("/workflows/", "#id_q"),
            ("/workflows/history/", "#id_person"),
        ]:
            page.goto(server.url + path)
            fold = page.locator("details[data-filters-fold] > summary")
            expect(fold).to_be_visible()
            expect(fold).to_have_text("Filters")
            expect(page.locator(field)).to_be_hidden()
            small = page.evaluate(SMALL_TARGETS, TAP_TARGETS)
            assert small == [], f"{path}: {small}"
            fold.click()
            expect(page.locator(field)).to_be_visible()
            small = page.evaluate(SMALL_TARGETS, TAP_TARGETS)
            assert small == [], f"{path} with the filters open: {small}"
    finally:
        phone.close()

    wide = browser.new_context(viewport={"width": 1280, "height": 800})
    page = wide.new_page()
    try:
        sign_in(page, server, "alice")
        page.goto(server.url + "/queues/")
        # no fold on a wide screen: the filters are simply there
        expect(page.locator("details[data-filters-fold] > summary")).to_be_hidden()
        expect(page.locator("#id_q")).to_be_visible()
        cell = page.locator(f"#task-row-{world[1]['queued']} td[data-label=Task]")
        # The socket's first re-sync may swap the table between finding the cell and
        # measuring it: measure once the socket is open, and again if the cell was swapped.
        page.wait_for_selector("html[data-live-socket=open]", state="attached")
        box = None
        for _ in range(20):
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            if box is not None:
                break
        assert box is not None and box["width"] >= 320, box
    finally:
        wide.close()
