"""People's actions: complete, reassign, claim, release, bulk. Each is exactly one contract
event in the log plus one command in the outbox, and a lost race is a clear refusal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from tests.support.inbox_world import (
    People,
    counts,
    make_people,
    make_task,
    reload,
    row_ids,
    text,
)
from workflows import actions
from workflows.models import Event, HumanTask, OutboxCommand

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> People:
    return make_people()


def as_user(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def only_new_event(before: tuple[int, int]) -> Event:
    """The one event an action added, checked against its one outbox command."""
    assert counts() == (before[0] + 1, before[1] + 1)
    event = Event.objects.order_by("-seq").first()
    assert event is not None
    command = OutboxCommand.objects.get(event=event)
    assert command.kind == event.type
    assert command.instance_id == event.instance_id
    assert command.payload["type"] == event.type
    assert command.payload["event_id"] == str(event.event_id)
    assert command.delivered_at is None
    for key in ("task_id", "instance_id", "step_name"):
        assert command.payload[key] == str(event.payload[key])
    return event


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- complete ------------------------------------------------------------------------------


def test_complete_records_one_event_and_one_command(people: People) -> None:
    task = make_task(title="Approve the offsite", step_name="manager_approval")
    alice = as_user(people.alice)
    before = counts()
    response = alice.post(f"/tasks/{task.task_id}/complete/", {"comment": "Go ahead"}, follow=True)

    event = only_new_event(before)
    assert event.type == "HumanTaskCompleted"
    assert event.source == "dashboard:alice"
    assert event.task_id == task.task_id and event.instance_id == task.instance_id
    p = event.payload
    assert (p["completed_by"], p["comment"], p["step_name"], p["form_data"]) == (
        "alice",
        "Go ahead",
        "manager_approval",
        None,
    )
    # The task page, now showing the outcome, offers the next task (here: none).
    assert response.redirect_chain == [(f"/tasks/{task.task_id}/?completed=1", 302)]
    assert "Completed “Approve the offsite”." in text(response)
    assert "No more tasks — back to My tasks" in text(response)
    done = reload(task)
    assert (done.status, done.completed_by_user) == ("completed", people.alice)


def test_complete_over_htmx_redirects_the_browser(people: People) -> None:
    task = make_task()
    response = as_user(people.alice).post(
        f"/tasks/{task.task_id}/complete/", {}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/tasks/{task.task_id}/?completed=1"


def test_a_second_completion_names_who_did_it_and_when(people: People) -> None:
    task = make_task(assignee="finance", title="Pay supplier")
    bob, alice = as_user(people.bob), as_user(people.alice)
    bob.post(f"/tasks/{task.task_id}/complete/", {"comment": "paid"})
    before = counts()

    response = alice.post(f"/tasks/{task.task_id}/complete/", {"comment": "me too"}, follow=True)

    assert counts() == before
    assert response.redirect_chain == [(f"/tasks/{task.task_id}/", 302)]
    html = text(response)
    assert re.search(r"Bob Chen already completed this task at \d{4}-\d\d-\d\d \d\d:\d\d:\d", html)
    # The page shows the state now, the person by full name.
    assert '<strong><span class="person" title="bob">Bob Chen</span></strong> completed' in html
    assert "Complete task</button>" not in html
    assert reload(task).comment == "paid"


def test_a_stale_completion_loses_to_a_reassignment(people: People) -> None:
    task = make_task(assignee="finance")
    stale = HumanTask.objects.get(pk=task.pk)
    actions.claim_task(task=reload(task), user=people.bob)
    before = counts()
    with pytest.raises(actions.TaskConflict) as lost:
        actions.complete_task(task=stale, user=people.alice, form_data=None)
    assert re.fullmatch(
        r"Bob Chen claimed this task at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.",
        str(lost.value),
    )
    assert counts() == before


def test_a_stale_completion_through_the_view_is_refused(people: People) -> None:
    """Between reading the task and the update, someone else completes it."""
    task = make_task(assignee="finance")
    stale = HumanTask.objects.get(pk=task.pk)
    actions.complete_task(task=reload(task), user=people.bob, form_data=None)
    with pytest.raises(actions.TaskConflict, match="Bob Chen already completed this task"):
        actions.complete_task(task=stale, user=people.alice, form_data=None)
    assert Event.objects.filter(type="HumanTaskCompleted").count() == 1


# --- reassign ------------------------------------------------------------------------------


def test_reassign_to_a_person(people: People) -> None:
    task = make_task(title="Check the invoice")
    alice = as_user(people.alice)
    before = counts()
    response = alice.post(
        f"/tasks/{task.task_id}/reassign/",
        {"to_assignee": "bob", "reason": "Bob knows this supplier"},
        follow=True,
    )
    event = only_new_event(before)
    assert event.type == "HumanTaskReassigned"
    p = event.payload
    assert (p["from_assignee"], p["to_assignee"], p["reassigned_by"], p["reason"]) == (
        "alice",
        "bob",
        "alice",
        "Bob knows this supplier",
    )
    assert "Reassigned “Check the invoice” to Bob Chen." in text(response)
    assert row_ids(text(alice.get("/"))) == []
    assert row_ids(text(alice.get("/done/"))) == [str(task.task_id)]
    bob_inbox = text(as_user(people.bob).get("/"))
    assert row_ids(bob_inbox) == [str(task.task_id)]
    page = text(as_user(people.bob).get(f"/tasks/{task.task_id}/"))
    assert (
        "<dt>Reassigned</dt><dd>1 time; last from "
        '<span class="person" title="alice">Alice Martin</span>, '
        'by <span class="person" title="alice">Alice Martin</span>: “Bob knows this supplier”</dd>'
        in page
    )


def test_reassign_to_a_team(people: People) -> None:
    task = make_task(title="Contract question")
    before = counts()
    as_user(people.alice).post(
        f"/tasks/{task.task_id}/reassign/",
        {"to_assignee": "group:legal", "reason": "Legal must read it"},
    )
    event = only_new_event(before)
    assert event.payload["to_assignee"] == "group:legal"
    after = reload(task)
    assert after.assignee_group is not None and after.assignee_group.name == "legal"
    assert row_ids(text(as_user(people.bob).get("/queues/"))) == [str(task.task_id)]


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"to_assignee": "nobody-here", "reason": "x"}, "No person or team is called"),
        ({"to_assignee": "bob", "reason": ""}, "This field is required."),
        ({"to_assignee": "bob", "reason": "   "}, "This field is required."),
        ({"to_assignee": "", "reason": "x"}, "This field is required."),
        ({"to_assignee": "alice", "reason": "x"}, "already assigned to Alice Martin"),
    ],
)
def test_reassign_refusals(people: People, data: dict[str, str], field_error: str) -> None:
    task = make_task()
    before = counts()
    response = as_user(people.alice).post(f"/tasks/{task.task_id}/reassign/", data)
    assert response.status_code == 422
    assert field_error in text(response)
    assert counts() == before
    assert reload(task).assignee == "alice"


def test_reassign_refusal_over_htmx_swaps_the_form(people: People) -> None:
    task = make_task()
    response = as_user(people.alice).post(
        f"/tasks/{task.task_id}/reassign/",
        {"to_assignee": "ghost", "reason": "x"},
        HTTP_HX_REQUEST="true",
    )
    html = text(response).strip()
    assert html.startswith('<section class="card" id="reassign-form"')
    assert "No person or team is called &#x27;ghost&#x27;." in html
    assert 'aria-invalid="true"' in html and 'value="ghost"' in html


# --- claim and release ---------------------------------------------------------------------


def test_claim_then_release(people: People) -> None:
    task = make_task(assignee="legal", title="Review NDA")
    bob = as_user(people.bob)
    before = counts()
    response = bob.post(f"/tasks/{task.task_id}/claim/", follow=True)
    event = only_new_event(before)
    p = event.payload
    assert (p["from_assignee"], p["to_assignee"], p["reassigned_by"]) == (
        "legal",
        "user:bob",
        "bob",
    )
    assert p["reason"] == "Claimed from the Legal queue"
    assert response.redirect_chain == [(f"/tasks/{task.task_id}/", 302)]
    html = text(response)
    assert "“Review NDA” is yours now." in html
    assert "Release to Legal</button>" in html
    # The facts say a claim is a claim, without the automatic reason.
    assert (
        "<dt>Reassigned</dt><dd>1 time; last claimed from Legal by "
        '<span class="person" title="bob">Bob Chen</span></dd>' in html
    )
    assert row_ids(text(bob.get("/"))) == [str(task.task_id)]
    assert row_ids(text(bob.get("/queues/"))) == []

    before = counts()
    response = bob.post(f"/tasks/{task.task_id}/release/", follow=True)
    event = only_new_event(before)
    p = event.payload
    assert (p["from_assignee"], p["to_assignee"], p["reassigned_by"]) == (
        "user:bob",
        "legal",
        "bob",
    )
    assert "“Review NDA” is back in its team queue." in text(response)
    assert (
        "<dt>Reassigned</dt><dd>2 times; last released to Legal by "
        '<span class="person" title="bob">Bob Chen</span></dd>'
        in text(bob.get(f"/tasks/{task.task_id}/"))
    )
    assert row_ids(text(bob.get("/queues/"))) == [str(task.task_id)]
    assert row_ids(text(bob.get("/"))) == []


def test_claiming_a_personal_task_or_releasing_one_that_never_was_queued(people: People) -> None:
    task = make_task(title="Mine only")
    alice = as_user(people.alice)
    before = counts()
    response = alice.post(f"/tasks/{task.task_id}/claim/", follow=True)
    assert "Only tasks in a team queue can be claimed." in text(response)
    response = alice.post(f"/tasks/{task.task_id}/release/", follow=True)
    assert "This task did not come from a team queue." in text(response)
    assert counts() == before


def test_claiming_what_someone_else_just_claimed(people: People) -> None:
    task = make_task(assignee="finance", title="Popular task")
    stale = HumanTask.objects.get(pk=task.pk)
    actions.claim_task(task=reload(task), user=people.alice)
    with pytest.raises(actions.TaskConflict, match="Alice Martin claimed this task"):
        actions.claim_task(task=stale, user=people.bob)


# --- bulk ----------------------------------------------------------------------------------


def test_bulk_claim_reports_each_row(people: People) -> None:
    a = make_task(assignee="finance", title="Queue A")
    b = make_task(assignee="legal", title="Queue B")
    taken = make_task(assignee="finance", title="Queue C")
    actions.claim_task(task=taken, user=people.alice)  # alice was faster
    bob = as_user(people.bob)
    before = counts()
    response = bob.post(
        "/tasks/bulk/",
        {"action": "claim", "task": [str(a.task_id), str(b.task_id), str(taken.task_id)]},
        HTTP_HX_REQUEST="true",
    )
    html = text(response)
    assert html.lstrip().startswith('<section id="task-table"')
    assert counts() == (before[0] + 2, before[1] + 2)
    results = re.findall(r'<li class="(ok|failed)">(.*?)</li>', html, re.S)
    assert ("ok", "✓ Claimed “Queue A”.") in results
    assert ("ok", "✓ Claimed “Queue B”.") in results
    failed = [msg for cls, msg in results if cls == "failed"]
    assert len(failed) == 1 and "no longer" in failed[0]
    assert row_ids(html) == []  # the queue now shows what is left
    assert set(row_ids(text(bob.get("/")))) == {str(a.task_id), str(b.task_id)}


def test_bulk_claim_without_htmx_reports_through_messages(people: People) -> None:
    a = make_task(assignee="finance", title="Queue A")
    response = as_user(people.bob).post(
        "/tasks/bulk/", {"action": "claim", "task": [str(a.task_id)]}, follow=True
    )
    assert response.redirect_chain == [("/queues/", 302)]
    assert "Claimed “Queue A”." in text(response)


def test_bulk_with_nothing_selected(people: People) -> None:
    before = counts()
    response = as_user(people.bob).post("/tasks/bulk/", {"action": "claim"}, follow=True)
    assert "Select at least one task first." in text(response)
    assert counts() == before


def test_bulk_reassign(people: People) -> None:
    one = make_task(title="One")
    two = make_task(title="Two")
    keep = make_task(title="Keep")
    alice = as_user(people.alice)
    before = counts()
    response = alice.post(
        "/tasks/bulk/",
        {
            "action": "reassign",
            "task": [str(one.task_id), str(two.task_id)],
            "to_assignee": "bob",
            "reason": "Holiday",
        },
        HTTP_HX_REQUEST="true",
    )
    html = text(response)
    assert counts() == (before[0] + 2, before[1] + 2)
    assert "✓ Reassigned “One” to Bob Chen." in html and "✓ Reassigned “Two” to Bob Chen." in html
    assert row_ids(html) == [str(keep.task_id)]
    assert set(row_ids(text(as_user(people.bob).get("/")))) == {str(one.task_id), str(two.task_id)}
    reasons = {e.payload["reason"] for e in Event.objects.filter(type="HumanTaskReassigned")}
    assert reasons == {"Holiday"}


@pytest.mark.parametrize(
    ("to", "reason", "message"),
    [
        ("bob", "", "To reassign, name a person or team and give a reason."),
        ("", "why", "To reassign, name a person or team and give a reason."),
        ("ghost", "why", "No person or team is called &#x27;ghost&#x27;."),
    ],
)
def test_bulk_reassign_refusals(people: People, to: str, reason: str, message: str) -> None:
    one = make_task(title="One")
    before = counts()
    response = as_user(people.alice).post(
        "/tasks/bulk/",
        {"action": "reassign", "task": [str(one.task_id)], "to_assignee": to, "reason": reason},
        follow=True,
    )
    assert message in text(response)
    assert counts() == before
    assert reload(one).assignee == "alice"


# --- the API -------------------------------------------------------------------------------


def api(c: Client, task: HumanTask, action: str, body: dict[str, Any] | None = None) -> Any:
    return c.post(
        f"/api/tasks/{task.task_id}/{action}", body or {}, content_type="application/json"
    )


def test_api_complete_then_409(people: People) -> None:
    task = make_task(assignee="finance")
    before = counts()
    response = api(as_user(people.bob), task, "complete", {"comment": "via API"})
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["completed_by"] == "bob"
    only_new_event(before)

    before = counts()
    response = api(as_user(people.alice), task, "complete", {"comment": "again"})
    assert response.status_code == 409
    body = response.json()
    assert body["detail"].startswith("Bob Chen already completed this task at ")
    assert body["task"]["status"] == "completed" and body["task"]["comment"] == "via API"
    assert counts() == before


def test_api_stale_action_is_409(people: People) -> None:
    task = make_task(assignee="finance")
    as_user(people.alice).post(f"/tasks/{task.task_id}/claim/")
    # bob is no longer holding it: he cannot see it, so 404 rather than 409.
    assert api(as_user(people.bob), task, "complete").status_code == 404
    # the admin can: the task moved on, but it is open, so the admin's action goes through.
    response = api(as_user(people.admin), task, "reassign", {"to_assignee": "bob", "reason": "r"})
    assert response.status_code == 200 and response.json()["assignee"] == "bob"


def test_api_reassign_claim_release(people: People) -> None:
    task = make_task(assignee="legal")
    bob = as_user(people.bob)
    before = counts()
    assert api(bob, task, "claim").json()["assignee"] == "user:bob"
    assert api(bob, task, "release").json()["assignee"] == "legal"
    response = api(bob, task, "reassign", {"to_assignee": "carol", "reason": "HR matter"})
    assert response.json()["assignee"] == "carol"
    assert counts() == (before[0] + 3, before[1] + 3)
    refused = api(as_user(people.carol), task, "reassign", {"to_assignee": "nope", "reason": "r"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == "No person or team is called 'nope'."


def test_bulk_problems_show_in_the_swapped_table(people: People) -> None:
    """Over HTMX only the table is swapped, so a refusal must be said inside it."""
    one = make_task(title="One")
    alice = as_user(people.alice)
    html = text(alice.post("/tasks/bulk/", {"action": "reassign"}, HTTP_HX_REQUEST="true"))
    assert '<li class="failed">✗ Select at least one task first.</li>' in html
    html = text(
        alice.post(
            "/tasks/bulk/",
            {"action": "reassign", "task": [str(one.task_id)], "to_assignee": "bob"},
            HTTP_HX_REQUEST="true",
        )
    )
    assert "✗ To reassign, name a person or team and give a reason." in html
    assert row_ids(html) == [str(one.task_id)]


def test_bulk_on_a_task_completed_meanwhile_names_who(people: People) -> None:
    task = make_task(assignee="finance", title="Shared")
    actions.complete_task(task=task, user=people.alice, form_data=None)
    html = text(
        as_user(people.bob).post(
            "/tasks/bulk/", {"action": "claim", "task": [str(task.task_id)]}, HTTP_HX_REQUEST="true"
        )
    )
    assert re.search(r"✗ “Shared”: Alice Martin already completed this task at \d{4}-", html)


def test_bulk_claim_keeps_the_lists_filters(people: People) -> None:
    claimed = make_task(assignee="finance", title="Invoice 1")
    kept = make_task(assignee="finance", title="Invoice 2")
    other = make_task(assignee="finance", title="Laptop order")
    response = as_user(people.bob).post(
        "/tasks/bulk/?q=Invoice",
        {"action": "claim", "task": [str(claimed.task_id)]},
        HTTP_HX_REQUEST="true",
    )
    shown = row_ids(text(response))
    assert shown == [str(kept.task_id)]
    assert str(other.task_id) not in shown
    page = text(as_user(people.bob).get("/queues/?q=Invoice"))
    assert 'hx-post="/tasks/bulk/?q=Invoice"' in page
