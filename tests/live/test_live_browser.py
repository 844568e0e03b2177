"""Live updates in two real Chromium pages against a real uvicorn server (websockets need
ASGI; pytest-django's live_server is WSGI only).

The server (the ``uvicorn_servers`` fixture, tests/conftest.py) runs in a subprocess on a
free port against its own database: a migrated SQLite file, or a fresh PostgreSQL database
when DATABASE_URL is PostgreSQL. REDIS_URL is passed through (with a key prefix of our own).
Events go in through POST /api/events, as an engine sends them, so the broadcasts start in
the server process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support import events as f
from tests.support.server import Server, Servers

PASSWORD = "live-test-pw-1"

pytestmark = pytest.mark.browser

SETUP = f"""
from django.contrib.auth.models import Group, User
from workflows.models import IngestToken
finance = Group.objects.create(name="finance")
for name in ("alice", "bob"):
    User.objects.create_user(name, password={PASSWORD!r}).groups.add(finance)
print(IngestToken.issue("browser-test")[1])
"""


@pytest.fixture
def server(uvicorn_servers: Servers) -> Iterator[Server]:
    yield uvicorn_servers.start(token=uvicorn_servers.setup(SETUP))


def signed_in(browser: Any, server: Server, username: str, path: str = "/") -> Any:
    page = browser.new_context().new_page()
    page.goto(server.url + "/accounts/login/?next=" + path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + path)
    live(page)
    return page


def live(page: Any, timeout: float = 10_000) -> None:
    page.wait_for_selector("html[data-live-socket=open]", state="attached", timeout=timeout)


def created(assignee: str, title: str, minute: int = 0) -> tuple[dict[str, Any], str, str]:
    instance_id, task_id = f.new_id(), f.new_id()
    event = f.human_task_created(
        instance_id, minute, task_id=task_id, assignee=assignee, title=title
    )
    return event, instance_id, task_id


def test_a_posted_task_appears_in_the_open_inbox_within_two_seconds(
    server: Server, browser: Any
) -> None:
    alice = signed_in(browser, server, "alice")
    assert alice.locator("#task-rows tr").count() == 0
    event, _, task_id = created("alice", "Approve expense report")

    server.post_events([event])
    started = time.monotonic()
    alice.wait_for_selector(f"#task-row-{task_id}", timeout=2000)
    assert time.monotonic() - started < 2
    assert "Approve expense report" in alice.inner_text(f"#task-row-{task_id}")
    # The row may come by the re-sync and the count by the live message, in either order.
    expect(alice.locator("#count-my")).to_have_text("1", timeout=2000)
    assert alice.inner_text("#live-announcer") == "New task: Approve expense report"
    assert alice.locator(f"#task-row-{task_id}.flash").count() == 1  # highlighted…
    alice.wait_for_selector(f"#task-row-{task_id}:not(.flash)", timeout=8000)  # …briefly

    # A second one goes into the table in place (the first came by a re-sync of the empty list).
    second, _, second_id = created("alice", "Sign the contract")
    server.post_events([second])
    alice.wait_for_selector(f"#task-row-{second_id}.flash", timeout=2000)
    ids = alice.eval_on_selector_all("#task-rows tr", "rows => rows.map(r => r.id)")
    # where a fresh load puts it: no due dates, so the newest row first
    assert ids == [f"task-row-{second_id}", f"task-row-{task_id}"]
    assert alice.inner_text("#count-my") == "2"


@pytest.mark.xfail(
    reason="Known bug, open (issue 13): the socket of the page bob leaves sometimes goes "
    "silent after the completion's broadcast (no later message, not even the disconnect), "
    "so his 'Also viewing' lingers on alice's page. Seen on PostgreSQL, and on SQLite only "
    "with the suite on every core; passes alone on SQLite",
    strict=False,
)
def test_bob_completes_the_task_alice_is_viewing_and_she_sees_who(
    server: Server, browser: Any
) -> None:
    event, _, task_id = created("group:finance", "Pay the supplier")
    server.post_events([event])
    path = f"/tasks/{task_id}/"
    alice = signed_in(browser, server, "alice", path)
    bob = signed_in(browser, server, "bob", path)
    bob.wait_for_selector("#task-presence:has-text('Also viewing: alice')", timeout=3000)
    alice.wait_for_selector("#task-presence:has-text('Also viewing: bob')", timeout=3000)

    bob.click("#complete-form button[type=submit]")
    bob.wait_for_url(server.url + path + "?completed=1")

    banner = alice.wait_for_selector("#task-banner .banner", timeout=3000)
    assert "bob already completed this task at" in banner.inner_text()
    assert alice.inner_text("#task-status-badge") == "Completed"
    assert alice.locator("#complete-form button[type=submit]").is_disabled()
    alice.wait_for_selector(
        "#task-presence:not(:has-text('bob'))", state="attached", timeout=10_000
    )


def test_after_a_dropped_socket_the_page_matches_a_fresh_load(server: Server, browser: Any) -> None:
    earlier = [created("alice", f"Earlier task {n}", n) for n in range(6)]
    server.post_events([e for e, _, _ in earlier])
    alice = signed_in(browser, server, "alice")
    assert alice.locator("#task-rows tr").count() == 6

    server.stop()  # every socket drops (uvicorn closes them with 1012, "service restart")
    alice.wait_for_selector("html[data-live-socket=closed]", state="attached", timeout=5000)
    missed = [e for e, _, _ in (created("alice", f"Missed task {n:02}", 10 + n) for n in range(40))]
    for _, instance_id, task_id in earlier[:5]:
        missed.append(f.human_task_completed(instance_id, 60, task_id=task_id, completed_by="bob"))
    for _, instance_id, task_id in earlier[5:]:
        missed.append(
            f.human_task_reassigned(
                instance_id, 60, task_id=task_id, to_assignee="bob", reassigned_by="admin"
            )
        )
    missed += [f.workflow_paused(instance_id, 61) for _, instance_id, _ in earlier[:4]]
    assert len(missed) == 50
    server.ingest_offline(missed)
    server.start()

    live(alice, timeout=20_000)  # htmx's ws extension reconnects by itself
    # Locator assertions, not wait_for_function: that evals in the page, which the CSP forbids.
    expect(alice.locator("#count-my")).to_have_text("40", timeout=5000)
    expect(alice.locator("#task-rows tr")).to_have_count(25, timeout=5000)
    expect(alice.locator("#task-rows tr.flash")).to_have_count(0, timeout=8000)
    fresh = browser.new_context()
    fresh.add_cookies(alice.context.cookies())
    reloaded = fresh.new_page()
    reloaded.goto(server.url + "/")

    def state(page: Any) -> dict[str, Any]:
        return page.evaluate(
            """() => ({
              rows: Array.from(document.querySelectorAll('#task-rows tr')).map(r => r.id),
              table: document.getElementById('task-table').innerText,
              nav: document.getElementById('nav-links').innerText,
            })"""
        )

    after = state(alice)
    assert after == state(reloaded)
    assert len(after["rows"]) == len(set(after["rows"])) == 25
    assert "Earlier task" not in after["table"]


def test_signing_out_in_another_tab_tells_the_open_page_and_it_stays_closed(
    server: Server, browser: Any
) -> None:
    alice = signed_in(browser, server, "alice")  # My tasks, live
    sockets: list[Any] = []
    alice.on("websocket", lambda ws: sockets.append(ws))
    other_tab = alice.context.new_page()
    other_tab.goto(server.url + "/")
    other_tab.click("form[action='/accounts/logout/'] button")
    other_tab.wait_for_url(server.url + "/accounts/login/")

    notice = alice.wait_for_selector("#signed-out[role=alert]", timeout=5000)
    assert "You have been signed out" in notice.inner_text()
    link = alice.locator("#signed-out a")
    assert link.inner_text() == "Sign in"
    assert link.get_attribute("href") == "/accounts/login/?next=%2F"
    assert alice.get_attribute("html", "data-live-socket") == "signed-out"

    # No reconnecting, and nothing more arrives on the page.
    event, _, task_id = created("alice", "After signing out")
    server.post_events([event])
    alice.wait_for_timeout(3000)
    assert sockets == []
    assert alice.locator(f"#task-row-{task_id}").count() == 0
    link.click()
    alice.wait_for_url(server.url + "/accounts/login/?next=%2F")
