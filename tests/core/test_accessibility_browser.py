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
    yield server, {"tasks": tasks, "instances": instances}


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
