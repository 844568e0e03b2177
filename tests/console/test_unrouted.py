"""Unrouted triage: overdue first and marked, inline and bulk assignment through the reassign
service (an event and a command for the engine), back to Unrouted, never to My tasks."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.inbox_world import People, ago, from_now, make_people, make_task, reload
from workflows.models import Event, HumanTask, OutboxCommand

pytestmark = pytest.mark.django_db

URL = "/workflows/unrouted/"


@pytest.fixture
def people() -> People:
    return make_people()


def as_(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="unrouted-row-([0-9a-f-]+)"', html)


def assign_url(task: HumanTask) -> str:
    return reverse("workflows_ui:unrouted_assign", args=[task.task_id])


def test_overdue_rows_come_first_and_say_so(people: People) -> None:
    old = make_task(assignee="ghost", title="Old, no due date", created=ago(days=3))
    late = make_task(assignee="ghost", title="Late", created=ago(hours=1), due=ago(hours=2))
    later = make_task(assignee="nobody", title="Very late", created=ago(hours=1), due=ago(days=1))
    future = make_task(
        assignee="ghost", title="Due tomorrow", created=ago(days=1), due=from_now(days=1)
    )
    make_task(assignee="alice", title="Routed")
    html = as_(people.admin).get(URL).content.decode()
    assert row_ids(html) == [str(t.task_id) for t in (later, late, old, future)]
    rows = html.split('<tr id="unrouted-row-')[1:]
    assert [("Overdue</span>" in r) for r in rows] == [True, True, False, False]
    assert 'class="overdue-row"' in rows[0]
    assert 'id="count-unrouted"' in html and ">4</span>" in html


def test_rows_speak_to_people_not_in_code(people: People) -> None:
    """The step is humanised and the assign field asks for a person or team, not a syntax."""
    make_task(assignee="ghost", title="Check the contract", step_name="hr_review")
    html = as_(people.admin).get(URL).content.decode()
    assert "Step: HR review" in html and "hr_review" not in html
    assert 'placeholder="Type a person or team"' in html
    assert "group:team" not in html


def test_inline_assign_with_htmx_removes_the_row_in_place(people: People) -> None:
    task = make_task(assignee="ghost", title="Pay the invoice")
    other = make_task(assignee="ghost", title="Another")
    response = as_(people.admin).post(
        assign_url(task), {"to_assignee": "bob"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    # The answer goes to the status line; the row is removed out of band (inside a
    # <template>, as htmx wants table parts), so a live removal first loses nothing.
    assert html.lstrip().startswith('<div id="unrouted-said"')
    assert (
        f'<template><tr id="unrouted-row-{task.task_id}" hx-swap-oob="delete"></tr></template>'
        in html
    )
    assert 'id="count-unrouted" aria-label="1 unrouted" hx-swap-oob="true"' in html
    assert "Assigned “Pay the invoice” to Bob Chen." in html
    assert "HX-Redirect" not in response.headers
    task = reload(task)
    assert task.assignee == "bob" and task.assignee_user == people.bob
    event = Event.objects.get(task_id=task.task_id, type="HumanTaskReassigned")
    assert event.payload["reassigned_by"] == "admin"
    assert "ghost" in event.payload["reason"]  # why it came to bob
    assert OutboxCommand.objects.filter(task_id=task.task_id, action="reassign").exists()
    assert reload(other).assignee == "ghost"


def test_inline_assign_without_htmx_goes_back_to_unrouted(people: People) -> None:
    task = make_task(assignee="ghost")
    client = as_(people.admin)
    response = client.post(assign_url(task), {"to_assignee": "group:finance", "reason": "theirs"})
    assert response.status_code == 302 and response["Location"] == URL
    page = client.get(URL).content.decode()
    assert "Assigned “Approve expense report” to Finance." in page
    assert reload(task).assignee_group.name == "finance"
    assert (
        Event.objects.get(task_id=task.task_id, type="HumanTaskReassigned").payload["reason"]
        == "theirs"
    )


def test_an_unknown_name_keeps_the_row_and_says_why(people: People) -> None:
    task = make_task(assignee="ghost")
    client = as_(people.admin)
    response = client.post(
        assign_url(task), {"to_assignee": "nobody-here"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert row_ids(html) == [str(task.task_id)]  # again, out of band, with the problem
    assert f'<tr id="unrouted-row-{task.task_id}" class="" hx-swap-oob="true"' in html
    assert "No person or team is called &#x27;nobody-here&#x27;." in html
    assert 'value="nobody-here"' in html and 'aria-invalid="true"' in html
    assert reload(task).assignee == "ghost"
    # Without htmx: back to the list, with the reason.
    response = client.post(assign_url(task), {"to_assignee": ""})
    assert response["Location"] == URL
    assert "Name a person or team" in client.get(URL).content.decode()


def test_a_task_routed_meanwhile_is_not_assigned_again(people: People) -> None:
    task = make_task(assignee="ghost")
    client = as_(people.admin)
    client.post(assign_url(task), {"to_assignee": "alice"})
    response = client.post(assign_url(task), {"to_assignee": "bob"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "not unrouted any more: it is assigned to alice" in html
    assert f'<tr id="unrouted-row-{task.task_id}" hx-swap-oob="delete">' in html  # the row goes
    assert reload(task).assignee == "alice"
    assert Event.objects.filter(task_id=task.task_id, type="HumanTaskReassigned").count() == 1


def test_bulk_assign_routes_each_and_answers_with_the_list(people: People) -> None:
    one = make_task(assignee="ghost", title="One")
    two = make_task(assignee="ghost", title="Two")
    three = make_task(assignee="ghost", title="Three")
    response = as_(people.admin).post(
        reverse("workflows_ui:unrouted_bulk_assign"),
        {"task": [str(one.task_id), str(two.task_id), str(uuid.uuid4())], "to_assignee": "carol"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert row_ids(html) == [str(three.task_id)]
    assert "Assigned “One” to Carol Diaz." in html and "Assigned “Two” to Carol Diaz." in html
    assert "A selected task does not exist." in html
    assert 'aria-label="1 unrouted" hx-swap-oob="true"' in html
    assert reload(one).assignee_user == people.carol == reload(two).assignee_user
    assert OutboxCommand.objects.filter(action="reassign").count() == 2


def test_bulk_assign_without_htmx_and_without_a_selection(people: People) -> None:
    task = make_task(assignee="ghost")
    client = as_(people.admin)
    url = reverse("workflows_ui:unrouted_bulk_assign")
    response = client.post(url, {"to_assignee": "carol"})
    assert response["Location"] == URL
    assert "Select at least one task" in client.get(URL).content.decode()
    response = client.post(url, {"task": [str(task.task_id)], "to_assignee": "carol"})
    assert response["Location"] == URL
    assert reload(task).assignee == "carol"


@pytest.mark.parametrize("who", ["alice", "erin"])
def test_only_admins_route(people: People, who: str) -> None:
    task = make_task(assignee="ghost")
    client = as_(getattr(people, who))
    assert client.post(assign_url(task), {"to_assignee": "bob"}).status_code == 404
    bulk = reverse("workflows_ui:unrouted_bulk_assign")
    assert client.post(bulk, {"task": [str(task.task_id)], "to_assignee": "bob"}).status_code == 404
    assert reload(task).assignee == "ghost"


def test_an_admins_empty_inbox_points_to_the_console(people: People) -> None:
    html = as_(people.admin).get("/").content.decode()
    assert "Look in your team queues" not in html  # admins have no team
    assert "Go to the workflow instances" in html
