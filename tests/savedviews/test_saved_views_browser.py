"""One journey in Chromium against a real uvicorn server: save the filtered My tasks as a
view, see it in the navigation with its count, a new matching task arrives from the engine
and the count moves live (no reload), then rename and delete it on the management page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.live.test_live_browser import PASSWORD, created, live
from tests.support.server import Server, Servers

pytestmark = pytest.mark.browser

SETUP = f"""
from django.contrib.auth.models import User
from workflows.models import IngestToken
User.objects.create_user("alice", password={PASSWORD!r})
print(IngestToken.issue("browser-test")[1])
"""


@pytest.fixture
def server(uvicorn_servers: Servers) -> Iterator[Server]:
    yield uvicorn_servers.start(token=uvicorn_servers.setup(SETUP))


def test_save_a_view_watch_its_count_move_live_rename_and_delete_it(
    server: Server, browser: Any
) -> None:
    server.post_events(
        [created("alice", "Pay invoice 1", 1)[0], created("alice", "Approve the trip", 2)[0]]
    )
    page = browser.new_context().new_page()
    page.goto(server.url + "/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    live(page)
    expect(page.locator("#task-rows tr")).to_have_count(2)

    # Filter (htmx pushes the URL), then save the filters under a name.
    page.fill("#id_q", "invoice")
    expect(page).to_have_url(re.compile(r"\?q=invoice&"))  # and the other fields, empty
    expect(page.locator("#task-rows tr")).to_have_count(1)
    page.fill("#id_save_view_name", "Invoices")
    page.click("#save-view-form button[type=submit]")
    expect(page.locator("#save-view-form .saved-note")).to_contain_text("Saved “Invoices”")

    link = page.locator("#nav-views a.nav-view")
    expect(link).to_have_count(1)
    expect(link).to_contain_text("Invoices")
    expect(link).to_have_attribute("href", "/?q=invoice&sort=due")  # normalised
    count = link.locator(".count")
    expect(count).to_have_text("1")

    # An engine creates a matching task: the count moves on the open page, without a reload
    # (the note the save left is still there).
    server.post_events([created("alice", "Pay invoice 2", 3)[0]])
    expect(count).to_have_text("2", timeout=3000)
    expect(page.locator("#save-view-form .saved-note")).to_be_visible()
    # A task it does not match moves My tasks, not the view.
    server.post_events([created("alice", "Book the hotel", 4)[0]])
    expect(page.locator("#count-my")).to_have_text("4", timeout=3000)
    expect(count).to_have_text("2")

    # Rename and delete where the views are managed.
    page.click("#nav-views a.nav-views-label")
    page.wait_for_url(server.url + "/views/")
    live(page)
    row = page.locator("table.saved-views tbody tr")
    expect(row).to_have_count(1)
    row.locator("input[name=name]").fill("Bills")
    row.locator("button", has_text="Rename").click()
    expect(page.locator("#views-note")).to_have_text("Renamed “Invoices” to “Bills”.")
    expect(page.locator("#nav-views a.nav-view")).to_contain_text("Bills")
    expect(page.locator("#nav-views a.nav-view .count")).to_have_text("2")

    page.locator("table.saved-views button", has_text="Delete").click()
    expect(page.locator("#views-note")).to_have_text("Deleted the view “Bills”.")
    expect(page.locator("#nav-views a")).to_have_count(0)
    expect(page.locator("table.saved-views")).to_have_count(0)
