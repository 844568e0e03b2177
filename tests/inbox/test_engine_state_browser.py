"""In a real browser: alice has her task open and is typing when the engine pauses its
workflow; the banner appears and the complete form is held, with what she typed kept; the
resume frees the form, and she completes the task."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.live.test_live_browser import SETUP, created, signed_in
from tests.support import events as f
from tests.support.server import Server, Servers

pytestmark = pytest.mark.browser


@pytest.fixture
def server(uvicorn_servers: Servers) -> Iterator[Server]:
    yield uvicorn_servers.start(token=uvicorn_servers.setup(SETUP))


def test_a_pause_holds_the_form_live_and_a_resume_frees_it(server: Server, browser: Any) -> None:
    event, instance_id, task_id = created("alice", "Approve expense report")
    server.post_events([event])
    alice = signed_in(browser, server, "alice", f"/tasks/{task_id}/")
    comment = alice.locator("#id_comment")
    submit = alice.locator("#complete-form button[type=submit]")
    banner = alice.locator("#workflow-state .banner")
    expect(banner).to_have_count(0)
    comment.fill("Receipt checked")

    server.post_events([f.workflow_paused(instance_id, 1, reason="Waiting for the auditor")])
    expect(banner).to_contain_text("This workflow is paused by its engine since ")
    expect(banner).to_contain_text(
        "Waiting for the auditor. The task can be completed when it resumes."
    )
    expect(comment).to_be_disabled()
    expect(submit).to_be_disabled()
    expect(alice.locator("#complete-form form")).to_have_attribute("aria-disabled", "true")
    expect(comment).to_have_value("Receipt checked")
    expect(alice.locator("#task-instance-status")).to_have_text("Paused")
    expect(alice.locator("#id_to_assignee")).to_be_enabled()  # reassigning stays allowed

    # A fresh load shows the same.
    alice.reload()
    expect(alice.locator("#workflow-state .banner")).to_contain_text("paused by its engine")
    expect(alice.locator("#id_comment")).to_be_disabled()
    expect(alice.locator("#complete-form button[type=submit]")).to_be_disabled()
    alice.wait_for_selector("html[data-live-socket=open]", state="attached", timeout=10_000)

    server.post_events([f.workflow_resumed(instance_id, 2)])
    expect(alice.locator("#workflow-state .banner")).to_have_count(0)
    expect(alice.locator("#id_comment")).to_be_enabled()
    expect(alice.locator("#complete-form button[type=submit]")).to_be_enabled()
    expect(alice.locator("#complete-form form")).not_to_have_attribute("aria-disabled", "true")
    expect(alice.locator("#task-instance-status")).to_have_text("Waiting")

    alice.locator("#id_comment").fill("Receipt checked")
    alice.locator("#complete-form button[type=submit]").click()
    alice.wait_for_url(server.url + f"/tasks/{task_id}/?completed=1")
