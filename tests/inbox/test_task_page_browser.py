"""Issue 11, items 8 and 9 in a real Chromium: the task page after a failed and a good submit
(focus on the first error, the next task offered and focused, submitted data to expand), and
the keyboard and the screen reader on live pages ("?", "c", Ctrl+Enter, a removal said in the
live region while the table itself is no live region)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import events as f
from tests.support.inbox_world import PASSWORD, from_now, make_people, make_task, reload
from tests.support.server import Server, Servers
from workflows.models import HumanTask

pytestmark = pytest.mark.browser

SCHEMA: dict[str, Any] = {
    "type": "object",
    # Keys whose order PostgreSQL's jsonb (shorter first) keeps as written.
    "required": ["decision", "approved_amount"],
    "properties": {
        "decision": {"type": "string", "title": "Decision", "enum": ["approve", "reject"]},
        "approved_amount": {"type": "number", "title": "Approved amount (EUR)", "maximum": 5000},
    },
}


@pytest.mark.django_db(transaction=True)
def test_failed_submit_focuses_the_error_then_the_next_task_is_one_key_away(
    browser: Any, live_server: Any
) -> None:
    make_people()
    first = make_task(
        title="Approve laptop purchase",
        form_schema=SCHEMA,
        due=from_now(hours=1),
        initial_data={"report_id": "EXP-2026-4916", "amount": 1200},
    )
    second = make_task(title="Order office chairs", due=from_now(days=1))
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    page.goto(f"/accounts/login/?next=/tasks/{first.task_id}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/tasks/{first.task_id}/")
    expect(page.locator("dd.business-key")).to_have_text("EXP-2026-4916")
    expect(page.locator("#instance-link")).to_have_count(0)  # alice may not read the console

    # A failed submit (over htmx): the first invalid field has the focus, the summary links it.
    page.get_by_label("Approved amount (EUR)").fill("9000")
    page.get_by_role("button", name="Complete task").click()
    decision = page.get_by_label("Decision")
    expect(decision).to_be_focused()
    expect(decision).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".error-summary a")).to_have_count(2)
    page.locator(".error-summary a", has_text="Approved amount").click()
    expect(page.get_by_label("Approved amount (EUR)")).to_be_focused()

    decision.select_option("approve")
    page.get_by_label("Approved amount (EUR)").fill("4500")
    page.get_by_role("button", name="Complete task").click()
    page.wait_for_url(f"**/tasks/{first.task_id}/?completed=1")
    expect(page.locator(".messages")).to_contain_text("Completed “Approve laptop purchase”.")
    # The next task is offered, not opened: the button has the focus.
    next_link = page.get_by_role("link", name="Open next task")
    expect(next_link).to_be_focused()
    expect(page.locator("#next-task")).to_contain_text("Order office chairs")
    # What was submitted, folded in the timeline until asked for.
    submitted = page.locator("#task-timeline details.submitted")
    expect(submitted).to_have_count(1)
    expect(submitted.locator("dl")).to_be_hidden()
    submitted.locator("summary").click()
    expect(submitted.locator("dl")).to_contain_text("4,500")
    next_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tasks/{second.task_id}/")
    assert reload(first).status == HumanTask.Status.COMPLETED
    context.close()


# --- item 9: a live page, on a real ASGI server --------------------------------------------

LIVE_PASSWORD = "task-page-live-pw-1"
SETUP = f"""
from django.contrib.auth.models import Group, User
from workflows.models import IngestToken
finance = Group.objects.create(name="finance")
for name in ("alice", "bob"):
    User.objects.create_user(name, password={LIVE_PASSWORD!r}).groups.add(finance)
print(IngestToken.issue("browser-test")[1])
"""


@pytest.fixture
def server(uvicorn_servers: Servers) -> Iterator[Server]:
    yield uvicorn_servers.start(token=uvicorn_servers.setup(SETUP))


def test_shortcuts_claim_submit_and_a_live_removal_is_announced(
    server: Server, browser: Any
) -> None:
    iid = f.new_id()
    pay, check = f.new_id(), f.new_id()
    server.post_events(
        [
            f.workflow_started(iid, 0, initial_data={"report_id": "EXP-2026-0042"}),
            f.human_task_created(iid, 1, task_id=pay, assignee="finance", title="Pay supplier"),
            f.human_task_created(iid, 2, task_id=check, assignee="finance", title="Check invoice"),
        ]
    )
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(5000)
    page = context.new_page()
    page.goto("/accounts/login/?next=/queues/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", LIVE_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(server.url + "/queues/")
    page.wait_for_selector("html[data-live-socket=open]", state="attached", timeout=10_000)
    expect(page.locator("#task-rows tr")).to_have_count(2)

    # The table is no live region (nor inside one); the announcer is.
    assert page.locator("#task-table[aria-live], [aria-live] #task-table").count() == 0
    expect(page.locator("#live-announcer")).to_have_attribute("aria-live", "polite")

    # "?" lists the shortcuts in a modal dialog; Escape closes it.
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Claim the task")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # bob completes one of the queue's tasks: its row goes, and the live region says why.
    server.post_events([f.human_task_completed(iid, 3, task_id=check, completed_by="bob")])
    expect(page.locator(f"#task-row-{check}")).to_have_count(0)
    expect(page.locator("#live-announcer")).to_have_text(
        "Task “Check invoice” was removed: completed by bob."
    )

    # On the task page "c" claims, but not while typing in a field.
    page.goto(f"/tasks/{pay}/")
    comment = page.get_by_label("Comment")
    comment.press_sequentially("c")
    expect(comment).to_have_value("c")
    expect(page.locator(".claim-card")).to_be_visible()
    comment.press("Escape")  # leaves the field
    page.keyboard.press("c")
    expect(page.locator(".messages")).to_contain_text("“Pay supplier” is yours now.")
    expect(page.locator(".claim-card")).to_have_count(0)

    # Ctrl+Enter in the form sends it.
    comment = page.get_by_label("Comment")
    comment.fill("Paid by bank transfer")
    comment.press("Control+Enter")
    page.wait_for_url(re.compile(rf"/tasks/{pay}/\?completed=1$"))
    expect(page.locator("#task-outcome")).to_contain_text("Paid by bank transfer")
    expect(page.get_by_role("link", name="No more tasks — back to My tasks")).to_be_focused()
    page.keyboard.press("g")
    page.keyboard.press("i")
    page.wait_for_url(server.url + "/")
    context.close()
