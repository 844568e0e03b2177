"""In a real browser: an admin cancels an instance and its task leaves the assignee's inbox."""

from __future__ import annotations

import pytest

from demo.users import demo_password, ensure_demo_users
from tests.support import events as b
from tests.support.inbox_world import role
from workflows.models import HumanTask, WorkflowInstance

pytestmark = pytest.mark.browser


def sign_in(browser, base: str, username: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", demo_password(username))
    page.locator("main form button[type=submit], main form input[type=submit]").first.click()
    page.wait_for_load_state()
    return page


@pytest.mark.django_db(transaction=True)
def test_admin_cancels_and_task_leaves_the_inbox(live_server, browser) -> None:
    role("Admins")  # an earlier transactional test's flush took the migration's rows
    ensure_demo_users()
    iid, tid = b.waiting_instance(assignee="alice", title="Approve expense report")
    base = live_server.url

    alice = sign_in(browser, base, "alice")
    alice.goto(f"{base}/")
    assert alice.locator(f"#task-row-{tid}").count() == 1
    assert "Approve expense report" in alice.content()
    api = alice.request.get(f"{base}/api/tasks?status=open")
    assert str(tid) in api.text()

    admin = sign_in(browser, base, "admin")
    admin.goto(f"{base}/workflows/{iid}/")
    admin.get_by_role("link", name="Cancel…").click()
    # The confirmation appears in the page (HTMX) and asks for a reason.
    admin.get_by_label("Reason (required)").fill("Request withdrawn")
    admin.get_by_role("button", name="Yes, cancel the workflow").click()
    admin.wait_for_url(f"{base}/workflows/{iid}/")
    admin.get_by_text("Workflow canceled.").wait_for()
    assert (
        "Ada Admin</span> canceled the workflow at step 'Approve': Request withdrawn"
        in admin.content()
    )

    assert WorkflowInstance.objects.get(instance_id=iid).status == "canceled"
    assert HumanTask.objects.get(task_id=tid).status == "canceled"

    alice.goto(f"{base}/")
    assert alice.locator(f"#task-row-{tid}").count() == 0
    assert "Approve expense report" not in alice.content()
    api = alice.request.get(f"{base}/api/tasks?status=open")
    assert api.ok
    assert str(tid) not in api.text()
