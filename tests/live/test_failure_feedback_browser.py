"""Failures are said, not silent (issue 11, item 1): a lost socket shows "Reconnecting…"
until the page is live and re-synced again, and a failed htmx action says why beside the
form while keeping what was typed. Real Chromium against a real uvicorn server (the
``server`` fixture of test_live_browser.py, which can stop and start again)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.live.test_live_browser import created, live, server, signed_in
from tests.support.server import Server

__all__ = ["server"]  # the fixture, imported for these tests

pytestmark = pytest.mark.browser

OFFLINE = "Could not reach the server. Your input is kept; try again when the connection is back."
SERVER_ERROR = "Something went wrong on the server (error 500). Your input is kept; try again."


def task_page(server: Server, browser: Any, title: str) -> tuple[Any, str]:
    event, _, task_id = created("alice", title)
    server.post_events([event])
    path = f"/tasks/{task_id}/"
    return signed_in(browser, server, "alice", path), task_id


def test_a_lost_socket_says_reconnecting_until_it_is_back_and_resynced(
    server: Server, browser: Any
) -> None:
    alice = signed_in(browser, server, "alice")
    status = alice.locator("#live-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_be_hidden()  # nothing to say while live
    expect(status).to_have_text("")

    server.stop()
    expect(alice.locator("html")).to_have_attribute("data-live-socket", "closed", timeout=5000)
    closed = time.monotonic()
    expect(status).to_be_visible(timeout=2000)
    assert time.monotonic() - closed < 2
    expect(status).to_contain_text("Reconnecting…")
    assert alice.get_by_role("status").filter(has_text="Reconnecting…").count() == 1

    # While it is down a new task arrives; the chip stays until the page shows it.
    event, _, task_id = created("alice", "Arrived while down")
    server.ingest_offline([event])
    server.start()
    live(alice, timeout=20_000)
    expect(status).to_be_hidden(timeout=5000)
    expect(status).to_have_text("")
    expect(alice.locator(f"#task-row-{task_id}")).to_be_visible()


def test_a_short_blip_is_not_announced(server: Server, browser: Any) -> None:
    alice = signed_in(browser, server, "alice")
    # The page's own socket closes abnormally (1006 is one htmx reconnects on) and is
    # back within a second: no chip. Closing it from the page, as a network blip would.
    alice.evaluate(
        """() => document.body.dispatchEvent(new CustomEvent('htmx:wsClose',
             {bubbles: true, detail: {event: {code: 1006}}}))"""
    )
    expect(alice.locator("html")).to_have_attribute("data-live-socket", "closed")
    alice.wait_for_timeout(700)
    expect(alice.locator("#live-status")).to_have_text("")
    alice.evaluate(
        """() => document.body.dispatchEvent(new CustomEvent('htmx:wsOpen',
             {bubbles: true, detail: {socketWrapper: {send() {}}}}))"""
    )
    alice.evaluate(
        "() => document.body.dispatchEvent(new CustomEvent('htmx:wsAfterMessage', {bubbles: true}))"
    )
    alice.wait_for_timeout(1000)  # past the second after the close
    expect(alice.locator("#live-status")).to_have_text("")
    expect(alice.locator("#live-status")).to_be_hidden()


def test_reassign_with_the_server_down_says_so_and_keeps_the_input(
    server: Server, browser: Any
) -> None:
    alice, task_id = task_page(server, browser, "Pay the supplier")
    form = alice.locator("#reassign-form form")
    alice.fill("#id_to_assignee", "bob")
    alice.fill("#id_reason", "Bob knows this supplier")

    server.stop()
    form.locator("button[type=submit]").click()
    error = alice.locator("#reassign-form form + p.error[role=alert]")
    expect(error).to_have_text(OFFLINE, timeout=5000)
    expect(alice.locator("#id_to_assignee")).to_have_value("bob")
    expect(alice.locator("#id_reason")).to_have_value("Bob knows this supplier")
    expect(alice).to_have_url(server.url + f"/tasks/{task_id}/")

    server.start()
    live(alice, timeout=20_000)
    form.locator("button[type=submit]").click()
    alice.wait_for_url(server.url + "/")
    expect(alice.locator(".messages")).to_contain_text("Reassigned “Pay the supplier” to bob.")
    expect(alice.locator("p.request-error")).to_have_count(0)


def test_a_server_error_says_so_keeps_the_input_and_goes_with_the_next_answer(
    server: Server, browser: Any
) -> None:
    alice, task_id = task_page(server, browser, "Check the invoice")
    action = f"**/tasks/{task_id}/reassign/"
    alice.route(action, lambda route: route.fulfill(status=500, body="boom"))
    alice.fill("#id_to_assignee", "alice")
    alice.fill("#id_reason", "Mine after all")
    alice.click("#reassign-form button[type=submit]")

    error = alice.locator("#reassign-form form + p.error[role=alert]")
    expect(error).to_have_text(SERVER_ERROR)
    expect(alice.locator("#id_to_assignee")).to_have_value("alice")
    expect(alice.locator("#id_reason")).to_have_value("Mine after all")

    # The next answer from the same form (the server's own refusal, rendered in the form)
    # replaces the message.
    alice.unroute(action)
    alice.click("#reassign-form button[type=submit]")
    expect(alice.locator("#reassign-form .errorlist")).to_contain_text(
        "This task is already assigned to alice."
    )
    expect(alice.locator("p.request-error")).to_have_count(0)
    expect(alice.locator("#id_reason")).to_have_value("Mine after all")


def test_a_refusal_shows_the_servers_reason(server: Server, browser: Any) -> None:
    alice, task_id = task_page(server, browser, "Sign the contract")
    action = f"**/tasks/{task_id}/reassign/"
    # The same request, sent by the browser to a task that is not (or no longer) hers: the
    # real server answers with its styled 404 page, whose reason is said beside the form.
    elsewhere = f"{server.url}/tasks/{uuid.uuid4()}/reassign/"
    alice.route(action, lambda route: route.fulfill(response=route.fetch(url=elsewhere)))
    alice.fill("#id_to_assignee", "bob")
    alice.fill("#id_reason", "Bob signs")
    alice.click("#reassign-form button[type=submit]")

    error = alice.locator("#reassign-form form + p.error[role=alert]")
    expect(error).to_contain_text("There is nothing here for you. The address may be mistyped")
    expect(error).to_contain_text("(error 404) Your input is kept.")
    expect(alice.locator("#id_to_assignee")).to_have_value("bob")
    expect(alice.locator("#id_reason")).to_have_value("Bob signs")
    # The suggestions fetched for the typed name answer after the failed submit, but were
    # asked before it: they do not take the message away.
    alice.wait_for_timeout(600)
    expect(error).to_be_visible()
