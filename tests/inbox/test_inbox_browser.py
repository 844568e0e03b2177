"""The assignee pages in a real Chromium (Playwright): sign in, filter, open, complete with a
schema form, claim from a queue, reassign; keyboard use, labels, landmarks and contrast."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.inbox_world import PASSWORD, People, from_now, make_people, make_task, reload
from workflows.models import HumanTask

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decision", "amount"],
    "properties": {
        "decision": {"type": "string", "title": "Decision", "enum": ["approve", "reject"]},
        "amount": {
            "type": "number",
            "title": "Approved amount (EUR)",
            "description": "At most 5000",
            "minimum": 0,
            "maximum": 5000,
        },
        "pay_on": {"type": "string", "format": "date", "title": "Pay on"},
        "urgent": {"type": "boolean", "title": "Urgent"},
    },
}


@pytest.fixture
def people() -> People:
    return make_people()


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(color_scheme: str = "light", **options: Any) -> Any:
        context = browser.new_context(
            base_url=live_server.url, color_scheme=color_scheme, **options
        )
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def rows(page: Any) -> list[str]:
    return page.locator("tr[data-task-row] a.task-link").all_inner_texts()


def test_sign_in_filter_open_complete_with_one_mistake(people: People, new_page: Any) -> None:
    task = make_task(
        title="Approve laptop purchase",
        workflow="expense_approval",
        form_schema=SCHEMA,
        due=from_now(hours=3),
    )
    make_task(title="Review travel policy", workflow="document_review")
    make_task(title="Order office chairs", workflow="expense_approval")
    page = new_page()
    sign_in(page, "alice")
    assert sorted(rows(page)) == [
        "Approve laptop purchase",
        "Order office chairs",
        "Review travel policy",
    ]
    assert page.locator("#count-my").inner_text() == "3"

    # Filter: only the table is swapped, and the URL can be bookmarked.
    page.get_by_label("Workflow").select_option("expense_approval")
    page.wait_for_url(re.compile(r"workflow=expense_approval"))
    page.get_by_role("searchbox", name="Search").fill("laptop")
    page.wait_for_url(re.compile(r"q=laptop"))
    expect(page.locator("tr[data-task-row]")).to_have_count(1)  # no page-side eval (CSP)
    assert rows(page) == ["Approve laptop purchase"]
    keys = [pair.split("=")[0] for pair in page.url.split("?", 1)[1].split("&")]
    assert len(keys) == len(set(keys)), f"each filter once in the URL: {page.url}"
    page.reload()  # the bookmarked view shows the same
    assert rows(page) == ["Approve laptop purchase"]

    page.get_by_role("link", name="Approve laptop purchase").click()
    page.wait_for_url(f"**/tasks/{task.task_id}/")
    page.get_by_label("Decision").select_option("approve")
    page.get_by_label("Approved amount (EUR)").fill("9000")  # the mistake
    page.get_by_label("Pay on").fill("2026-12-01")
    page.get_by_label("Urgent").check()
    page.get_by_label("Comment").fill("Needed for the new hire")
    page.get_by_role("button", name="Complete task").click()

    error = page.locator("#id_f_amount_error")
    error.wait_for()
    assert "less than or equal to 5000" in error.inner_text()
    # Beside its field: in the same field block, right under the input and its help.
    block = page.locator(".field", has=page.locator("#id_f_amount"))
    assert "less than or equal to 5000" in block.inner_text()
    assert page.get_by_label("Approved amount (EUR)").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Decision").input_value() == "approve"  # the rest is kept
    assert page.get_by_label("Comment").input_value() == "Needed for the new hire"
    assert reload(task).is_open

    page.get_by_label("Approved amount (EUR)").fill("4500")
    page.get_by_role("button", name="Complete task").click()
    page.wait_for_url(f"**/tasks/{task.task_id}/?completed=1")
    assert "Completed “Approve laptop purchase”." in page.locator(".messages").inner_text()
    expect(page.get_by_role("link", name="Open next task")).to_be_focused()
    page.get_by_role("link", name="Back to My tasks").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "Approve laptop purchase" not in rows(page)
    assert page.locator("#count-my").inner_text() == "2"
    done = reload(task)
    assert done.status == HumanTask.Status.COMPLETED and done.completed_by == "alice"
    assert done.form_data == {
        "decision": "approve",
        "amount": 4500.0,
        "pay_on": "2026-12-01",
        "urgent": True,
    }


def test_a_group_member_claims_a_queue_task(people: People, new_page: Any) -> None:
    task = make_task(assignee="legal", title="Review the NDA")
    make_task(assignee="finance", title="Pay the invoice")
    page = new_page()
    sign_in(page, "bob")
    page.get_by_role("link", name=re.compile("Team queues")).click()
    page.wait_for_url("**/queues/")
    assert sorted(rows(page)) == ["Pay the invoice", "Review the NDA"]
    row = page.locator(f"#task-row-{task.task_id}")
    row.get_by_role("button", name="Claim").click()
    page.wait_for_url(f"**/tasks/{task.task_id}/")
    assert "“Review the NDA” is yours now." in page.locator(".messages").inner_text()
    assert page.get_by_role("button", name="Release to Legal").is_visible()
    page.get_by_role("link", name=re.compile("My tasks")).first.click()
    page.wait_for_url(re.compile(r"/$"))
    assert rows(page) == ["Review the NDA"]
    assert reload(task).assignee == "user:bob"


def test_bulk_claim_shows_a_result_per_row(people: People, new_page: Any) -> None:
    a = make_task(assignee="legal", title="Queue A")
    b = make_task(assignee="finance", title="Queue B")
    page = new_page()
    sign_in(page, "bob")
    page.goto("/queues/")
    page.get_by_label("Select Queue A").check()
    page.get_by_label("Select Queue B").check()
    page.get_by_role("button", name="Claim selected").click()
    results = page.locator(".bulk-results")
    results.wait_for()
    assert sorted(results.locator("li").all_inner_texts()) == [
        "✓ Claimed “Queue A”.",
        "✓ Claimed “Queue B”.",
    ]
    assert rows(page) == []
    assert {reload(a).assignee, reload(b).assignee} == {"user:bob"}


def test_a_reassigned_task_appears_in_the_new_assignees_inbox(
    people: People, new_page: Any
) -> None:
    task = make_task(title="Check the supplier contract")
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(f"/tasks/{task.task_id}/")
    picker = alice.get_by_label("Reassign to")
    picker.press_sequentially("bo", delay=30)
    alice.wait_for_selector("#assignee-options option[value='bob']", state="attached")
    picker.fill("bob")
    alice.get_by_label("Reason").fill("Bob negotiated this contract")
    alice.get_by_role("button", name="Reassign", exact=True).click()
    alice.wait_for_url(re.compile(r"/$"))
    assert (
        "Reassigned “Check the supplier contract” to Bob Chen."
        in alice.locator(".messages").inner_text()
    )
    assert rows(alice) == []

    bob = new_page()
    sign_in(bob, "bob")
    assert rows(bob) == ["Check the supplier contract"]
    bob.get_by_role("link", name="Check the supplier contract").click()
    assert "1 time; last from Alice Martin" in bob.locator("dl.facts").first.inner_text()


def test_keyboard_moves_between_tasks_and_opens_one(people: People, new_page: Any) -> None:
    first = make_task(title="First task", due=from_now(hours=1))
    make_task(title="Second task", due=from_now(hours=2))
    page = new_page()
    sign_in(page, "alice")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator("tr.kbd-current")
    assert current.count() == 1 and "First task" in current.inner_text()
    assert page.evaluate("document.activeElement.textContent.trim()") == "First task"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tasks/{first.task_id}/")
    page.go_back()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]+/$"))
    assert page.locator("h1").inner_text() == "Second task"
    page.go_back()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "id_q"


# --- accessibility basics, in both themes ----------------------------------------------------

UNLABELLED = """
() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML)
"""

CONTRAST = """
(selectors) => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
  };
  const out = [];
  for (const sel of selectors) {
    for (const el of document.querySelectorAll(sel)) {
      if (!el.offsetParent) continue;
      const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      out.push([sel, Math.round(ratio * 100) / 100]);
      break;
    }
  }
  return out;
}
"""

TEXT_SELECTORS = [
    "main h1",
    ".muted",
    "a.task-link",
    ".overdue",
    ".due-soon",
    ".priority-high",
    ".count.hot",
    ".count",
    "button.primary",
    ".badge.status-completed",
    ".badge.status-open",
    ".message.success",
    ".mainnav a[aria-current='page']",
    ".table th",
    ".kbd-help",
    ".help",
    "label",
    "dl.facts dt",
    ".timeline .when",
    ".bulk-bar summary",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_labels_landmarks_focus_and_contrast(people: People, new_page: Any, scheme: str) -> None:
    task = make_task(title="Overdue task", due=from_now(hours=-2), priority=4, form_schema=SCHEMA)
    make_task(title="Soon task", due=from_now(hours=5))
    make_task(assignee="finance", title="Team task")
    page = new_page(color_scheme=scheme)
    sign_in(page, "alice")
    page.goto("/")
    page.locator("tr[data-task-row] a.task-link").first.wait_for()
    checked: dict[str, float] = {}
    for url in ("/", "/queues/", "/done/", f"/tasks/{task.task_id}/"):
        page.goto(url)
        assert page.evaluate(UNLABELLED) == [], url
        assert page.locator("main#main").count() == 1
        assert page.locator("header.topbar").count() == 1
        assert page.get_by_role("navigation", name="Main").count() == 1
        for selector, ratio in page.evaluate(CONTRAST, TEXT_SELECTORS):
            checked[selector] = min(ratio, checked.get(selector, 99))
    # The task page's own messages: make one appear by completing with a mistake.
    page.get_by_role("button", name="Complete task").click()
    page.locator(".errorlist").first.wait_for()
    for selector, ratio in page.evaluate(CONTRAST, [".errorlist", "p.error", ".req"]):
        checked[selector] = ratio
    low = {s: r for s, r in checked.items() if r < 4.5}
    assert not low, f"text below WCAG AA 4.5:1 in {scheme} mode: {low}"
    assert {"main h1", ".overdue", ".due-soon", "button.primary", ".errorlist"} <= set(checked)

    # Focus is visible: a keyboard user sees where they are.
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["x"] >= 0
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline


def test_phone_width_has_no_sideways_scroll(people: People, new_page: Any) -> None:
    task = make_task(title="A task with a rather long title to wrap on a phone", form_schema=SCHEMA)
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "alice")
    for url in ("/", "/queues/", f"/tasks/{task.task_id}/"):
        page.goto(url)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 390px"
