"""In a real browser against a real uvicorn server (websockets need ASGI): an admin triages
Unrouted. Overdue first and marked; a task arrives live; one is assigned in its row (the row
goes, the page stays, the count drops); two are assigned at once. Then, on Instances, the
bulk cancel waits for a selection and Apply sends one request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import events as f
from tests.support.server import Server, Servers

PASSWORD = "unrouted-test-pw-1"

pytestmark = pytest.mark.browser

SETUP = f"""
from django.contrib.auth.models import Group, Permission, User
from workflows.models import IngestToken
finance = Group.objects.create(name="finance")
for name in ("alice", "bob"):
    User.objects.create_user(name, password={PASSWORD!r}).groups.add(finance)
admins, _ = Group.objects.get_or_create(name="Admins")
admins.permissions.add(*Permission.objects.filter(
    content_type__app_label="workflows", codename__in=["manage_instances", "view_history"]))
User.objects.create_user("admin", password={PASSWORD!r}).groups.add(admins)
print(IngestToken.issue("unrouted-browser-test")[1])
"""


@pytest.fixture
def server(uvicorn_servers: Servers) -> Iterator[Server]:
    yield uvicorn_servers.start(token=uvicorn_servers.setup(SETUP))


def unrouted_task(
    title: str, *, minute: int, due: datetime | None = None
) -> tuple[list[dict[str, Any]], str]:
    instance_id, task_id = f.new_id(), f.new_id()
    extra = {"due_at": due.isoformat()} if due else {}
    started = f.workflow_started(instance_id, minute, workflow_name="triage")
    created = f.human_task_created(
        instance_id, minute, task_id=task_id, assignee="nobody-yet", title=title, **extra
    )
    return [started, created], task_id


def test_an_admin_triages_unrouted(server: Server, browser: Any) -> None:
    now = datetime.now(UTC)
    plain, plain_id = unrouted_task("Plain", minute=0, due=now + timedelta(days=2))
    late, late_id = unrouted_task("Late", minute=5, due=now - timedelta(hours=3))
    server.post_events([*plain, *late])

    page = browser.new_context().new_page()
    page.goto(server.url + "/accounts/login/?next=/workflows/unrouted/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/workflows/unrouted/")
    page.wait_for_selector("html[data-live-socket=open]", state="attached", timeout=10_000)
    unrouted_url = page.url
    badge = page.locator("#count-unrouted")
    rows = page.locator("#unrouted-rows tr")

    # Overdue first, and marked in words.
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_id(f"unrouted-row-{late_id}")
    expect(rows.nth(0).get_by_text("Overdue", exact=True)).to_be_visible()
    expect(rows.nth(1).get_by_text("Overdue", exact=True)).to_have_count(0)
    expect(badge).to_have_text("2")
    # Nothing selected: the bulk form waits.
    expect(page.locator("fieldset.bulk")).to_be_hidden()

    # A task arrives live: its row appears, the count follows.
    arriving, arriving_id = unrouted_task("Arrives live", minute=10)
    server.post_events(arriving)
    expect(page.locator(f"#unrouted-row-{arriving_id}")).to_be_visible(timeout=3000)
    expect(badge).to_have_text("3", timeout=3000)

    # Inline: assign "Plain" to bob in its row; the row goes, the page stays.
    row = page.locator(f"#unrouted-row-{plain_id}")
    row.locator("input[name=to_assignee]").fill("bob")
    row.get_by_role("button", name="Assign").click()
    expect(page.locator(f"#unrouted-row-{plain_id}")).to_have_count(0)
    expect(page.locator("#unrouted-said")).to_contain_text("Assigned “Plain” to bob.")
    expect(badge).to_have_text("2")
    assert page.url == unrouted_url

    # Bulk: the two left, to the finance team.
    for task_id in (late_id, arriving_id):
        page.locator(f"#unrouted-row-{task_id} input[type=checkbox]").check()
    bulk = page.locator("fieldset.bulk")
    expect(bulk).to_be_visible()
    expect(bulk).to_contain_text("(2 selected)")
    page.fill("#bulk-to", "group:finance")
    bulk.get_by_role("button", name="Assign selected").click()
    expect(page.get_by_text("Every open task has someone to do it.")).to_be_visible()
    expect(page.locator("#unrouted-said")).to_contain_text("Assigned “Late” to Finance.")
    expect(badge).to_have_text("0")
    assert page.url == unrouted_url

    # Instances: the bulk cancel waits for a selection; Apply sends one request.
    page.goto(server.url + "/workflows/")
    cancel = page.locator("fieldset.bulk")
    expect(cancel).to_be_hidden()
    page.locator("#bulk-form input[name=instance]").first.check()
    expect(cancel).to_be_visible()
    page.locator("#bulk-form input[name=instance]").first.uncheck()
    expect(cancel).to_be_hidden()

    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.url)
            if request.url.startswith(server.url + "/workflows/?")
            else None
        ),
    )
    page.select_option("#id_workflow", "triage")
    page.fill("#id_tenant", "")
    page.fill("#id_initiator", "nobody")
    with page.expect_response(lambda r: r.url.startswith(server.url + "/workflows/?")):
        page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("No instances match these filters.")).to_be_visible()
    page.wait_for_timeout(500)  # a second request would have been sent by now
    assert len(sent) == 1, sent
    assert "workflow=triage" in sent[0] and "initiator=nobody" in sent[0]
