"""Who may see and act: assignee, group member, other user, admin, manager, anonymous.

A task you may not see is 404, for its page and every action on it; anonymous people are
sent to sign in; admins may act on any task. Every refusal leaves the event log untouched.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.inbox_world import People, counts, make_people, make_task, reload, text
from workflows import actions
from workflows.models import HumanTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> People:
    return make_people()


@pytest.fixture
def tasks(people: People) -> dict[str, HumanTask]:
    """A task for alice herself, and one in the legal queue (bob is in legal, alice isn't)."""
    return {
        "personal": make_task(assignee="alice", title="Personal task of alice"),
        "queue": make_task(assignee="legal", title="Legal queue task"),
    }


def client_for(people: People, who: str) -> Client:
    c = Client()
    if who != "anonymous":
        c.force_login(getattr(people, who))
    return c


# Who is who for each task: the roles of the matrix.
ROLE_OF = {
    "personal": {
        "assignee": "alice",
        "other": "carol",
        "admin": "admin",
        "manager": "erin",
        "anonymous": "anonymous",
    },
    "queue": {
        "group member": "bob",
        "other": "alice",
        "admin": "admin",
        "manager": "erin",
        "anonymous": "anonymous",
    },
}
MATRIX = [(task, role) for task, roles in ROLE_OF.items() for role in roles]
REFUSED = [(task, role) for task, role in MATRIX if role in ("other", "manager", "anonymous")]


def post_action(c: Client, task: HumanTask, action: str) -> Any:
    data = {
        "complete": {"comment": "ok"},
        "reassign": {"to_assignee": "carol", "reason": "she knows"},
        "claim": {},
        "release": {},
    }[action]
    return c.post(f"/tasks/{task.task_id}/{action}/", data)


@pytest.mark.parametrize(("task_key", "role"), MATRIX)
def test_task_page(people: People, tasks: dict[str, HumanTask], task_key: str, role: str) -> None:
    task = tasks[task_key]
    response = client_for(people, ROLE_OF[task_key][role]).get(f"/tasks/{task.task_id}/")
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next=/tasks/{task.task_id}/"
    elif role == "other":
        assert response.status_code == 404
        assert task.title not in text(response)
    else:
        assert response.status_code == 200
        html = text(response)
        assert task.title in html
        can_act = role != "manager"
        assert ("Complete task</button>" in html) is can_act


@pytest.mark.parametrize("action", ["complete", "reassign", "claim", "release"])
@pytest.mark.parametrize(("task_key", "role"), REFUSED)
def test_actions_refused_to_others_and_anonymous(
    people: People, tasks: dict[str, HumanTask], task_key: str, role: str, action: str
) -> None:
    task = tasks[task_key]
    before = counts()
    response = post_action(client_for(people, ROLE_OF[task_key][role]), task, action)
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == 404
    assert counts() == before
    assert reload(task).assignee == task.assignee and reload(task).is_open


@pytest.mark.parametrize(
    ("task_key", "who", "action", "assignee_after", "status_after"),
    [
        ("personal", "alice", "complete", "alice", "completed"),
        ("personal", "alice", "reassign", "carol", "open"),
        ("personal", "admin", "complete", "alice", "completed"),
        ("personal", "admin", "reassign", "carol", "open"),
        ("queue", "bob", "complete", "legal", "completed"),
        ("queue", "bob", "claim", "user:bob", "open"),
        ("queue", "bob", "reassign", "carol", "open"),
        ("queue", "admin", "claim", "user:admin", "open"),
        ("queue", "admin", "complete", "legal", "completed"),
    ],
)
def test_actions_allowed(
    people: People,
    tasks: dict[str, HumanTask],
    task_key: str,
    who: str,
    action: str,
    assignee_after: str,
    status_after: str,
) -> None:
    task = tasks[task_key]
    events, outbox = counts()
    response = post_action(client_for(people, who), task, action)
    assert response.status_code == 302
    after = reload(task)
    assert (after.assignee, after.status) == (assignee_after, status_after)
    assert counts() == (events + 1, outbox + 1)


def test_release_allowed_for_the_claimer_and_admin_only(
    people: People, tasks: dict[str, HumanTask]
) -> None:
    task = tasks["queue"]
    actions.claim_task(task=task, user=people.bob)
    # alice is not in legal and does not hold the task; carol neither; a manager only reads.
    for who in ("alice", "carol", "erin"):
        before = counts()
        assert post_action(client_for(people, who), task, "release").status_code == 404
        assert counts() == before
    assert post_action(client_for(people, "admin"), task, "release").status_code == 302
    assert reload(task).assignee == "legal"


def test_a_task_i_handed_on_is_readable_but_not_actionable(
    people: People, tasks: dict[str, HumanTask]
) -> None:
    task = tasks["personal"]
    actions.reassign_task(task=task, user=people.alice, to_assignee="carol", reason="hr")
    alice = client_for(people, "alice")
    page = text(alice.get(f"/tasks/{task.task_id}/"))
    assert 'assigned to <span class="person" title="carol">Carol Diaz</span>' in page
    before = counts()
    assert post_action(alice, task, "complete").status_code == 404
    assert counts() == before


@pytest.mark.parametrize("url", ["/", "/queues/", "/done/", "/assignees/?to_assignee=a"])
def test_every_page_sends_anonymous_people_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_bulk_actions_need_sign_in_and_skip_invisible_tasks(
    people: People, tasks: dict[str, HumanTask]
) -> None:
    task = tasks["queue"]
    before = counts()
    anonymous = client_for(people, "anonymous")
    response = anonymous.post("/tasks/bulk/", {"action": "claim", "task": [str(task.task_id)]})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # carol cannot see the legal task: nothing happens to it, and nothing is said about it.
    carol = client_for(people, "carol")
    response = carol.post(
        "/tasks/bulk/", {"action": "claim", "task": [str(task.task_id)]}, follow=True
    )
    assert "Legal queue task" not in text(response)
    assert counts() == before
    assert reload(task).assignee == "legal"


def test_lists_show_only_what_is_mine(people: People, tasks: dict[str, HumanTask]) -> None:
    carol = client_for(people, "carol")
    for url in ("/", "/queues/", "/done/"):
        html = text(carol.get(url))
        assert "Personal task of alice" not in html and "Legal queue task" not in html
    admin = client_for(people, "admin")
    # Admins act on any task, but their inbox is still their own.
    assert "Legal queue task" not in text(admin.get("/queues/"))


@pytest.mark.parametrize("method", ["get"])
@pytest.mark.parametrize("action", ["complete", "reassign", "claim", "release"])
def test_actions_only_accept_post(
    people: People, tasks: dict[str, HumanTask], action: str, method: str
) -> None:
    task = tasks["personal"]
    response = getattr(client_for(people, "alice"), method)(f"/tasks/{task.task_id}/{action}/")
    assert response.status_code == 405


def test_posts_without_the_csrf_token_are_refused(
    people: People, tasks: dict[str, HumanTask]
) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people.alice)
    task = tasks["personal"]
    before = counts()
    assert strict.post(f"/tasks/{task.task_id}/complete/", {}).status_code == 403
    page = text(strict.get("/"))
    # Every HTMX request carries the token from <body>.
    token = strict.cookies["csrftoken"].value
    assert '<body hx-headers=\'{"x-csrftoken": "' in page
    response = strict.post(
        f"/tasks/{task.task_id}/complete/", {}, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/tasks/{task.task_id}/?completed=1"
    assert counts()[0] == before[0] + 1


# --- API action endpoints ------------------------------------------------------------------


API_BODY = {
    "complete": {"comment": "ok"},
    "reassign": {"to_assignee": "carol", "reason": "she knows"},
    "claim": None,
    "release": None,
}


def api_post(c: Client, task: HumanTask, action: str) -> Any:
    body = API_BODY[action]
    return c.post(
        f"/api/tasks/{task.task_id}/{action}",
        body if body is not None else {},
        content_type="application/json",
    )


@pytest.mark.parametrize("action", ["complete", "reassign", "claim", "release"])
@pytest.mark.parametrize(("task_key", "role"), MATRIX)
def test_api_action_permissions(
    people: People, tasks: dict[str, HumanTask], task_key: str, role: str, action: str
) -> None:
    task = tasks[task_key]
    before = counts()
    response = api_post(client_for(people, ROLE_OF[task_key][role]), task, action)
    expected: dict[str, dict[str, int]] = {
        "complete": {"assignee": 200, "group member": 200, "admin": 200},
        "reassign": {"assignee": 200, "group member": 200, "admin": 200},
        # Claiming a personal task, or releasing an unclaimed one, is refused as a rule (422).
        "claim": {
            "assignee": 422,
            "group member": 200,
            "admin": 422 if task_key == "personal" else 200,
        },
        "release": {"assignee": 422, "group member": 422, "admin": 422},
    }
    status = {"anonymous": 401, "other": 404, "manager": 404}.get(role) or expected[action][role]
    assert response.status_code == status, response.content
    assert counts() == ((before[0] + 1, before[1] + 1) if status == 200 else before)
    if status == 200:
        assert response.json()["task_id"] == str(task.task_id)
