"""SQL per request on My tasks and Team queues: a small constant, whatever the data size.

Each list page (and the htmx partial it swaps, ``#task-table``) is measured with 5 tasks in
one team and again with 60 tasks over three teams, every task in its own workflow instance:
the counts must be equal and under a bound. An N+1 (a query per row for the instance's
name or the team's name) adds one query per row shown, 5 then 25, and fails both checks;
``test_the_check_catches_an_n_plus_1`` proves that it would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox import selectors
from workflows import search
from workflows.models import HumanTask, WorkflowInstance

pytestmark = pytest.mark.django_db

# session, user, paginator count, the page's rows, the workflow names of the filter
PARTIAL_MAX = 6
# plus the navigation counts, the permission checks of the console links, the person's
# saved views (savedviews) and saved time zone (pages.zones)
PAGE_MAX = 11

URLS = [
    "/",
    "/?due=overdue",
    "/?due=soon&sort=priority",
    "/?q=task&sort=-created",
    "/?workflow=wf-1&sort=created",
    "/?page=2",
    "/queues/",
    "/queues/?sort=-created",
    "/queues/?q=task&due=overdue",
    "/queues/?workflow=wf-2",
    "/queues/?group=team-0",
    "/queues/?page=2",
]


def add_tasks(user: User, groups: list[Group], n: int) -> None:
    """n open tasks for the user and n for their teams (round robin), each in its own
    instance, with a mix of due dates (none, overdue, soon, later) and priorities; plus
    closed tasks of theirs, which no list may show."""
    now = timezone.now()
    instances = WorkflowInstance.objects.bulk_create(
        WorkflowInstance(
            instance_id=uuid.uuid4(),
            workflow_name=f"wf-{i % 4}",
            status=WorkflowInstance.Status.RUNNING,
            started_at=now - timedelta(days=1, minutes=i),
        )
        for i in range(3 * n)
    )
    due = [None, now - timedelta(hours=5), now + timedelta(hours=3), now + timedelta(days=4)]
    tasks = []
    for i, instance in enumerate(instances):
        mine = i < n
        closed = i >= 2 * n
        tasks.append(
            HumanTask(
                task_id=uuid.uuid4(),
                instance=instance,
                step_name=f"step-{i % 3}",
                title=f"Task {i}",
                description=f"Description of task {i}",
                assignee_user=user if mine or closed else None,
                assignee_group=None if mine or closed else groups[i % len(groups)],
                due_at=due[i % 4],
                priority=i % 5,
                status=HumanTask.Status.COMPLETED if closed else HumanTask.Status.OPEN,
                created_at=now - timedelta(hours=i),
            )
        )
    HumanTask.objects.bulk_create(tasks)
    # Rows written without the fold: their search documents too (as the fold would).
    search.index_instances([i.instance_id for i in instances])


def count_queries(user: User, url: str, *, htmx: bool) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    headers = {"HX-Request": "true"} if htmx else {}
    client.get(url, headers=headers)  # anything done once per process is done now
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), "\n".join(q["sql"] for q in ctx.captured_queries)


def measure(url: str, *, htmx: bool) -> tuple[tuple[int, str], tuple[int, str], int]:
    """Queries with 5 tasks in one team, then with 60 tasks over three teams; and the rows
    the large page shows (so a test cannot pass on an empty page)."""
    user = User.objects.create_user("alice")
    teams = [Group.objects.create(name=f"team-{i}") for i in range(3)]
    user.groups.add(teams[0])
    add_tasks(user, teams[:1], 5)
    small = count_queries(user, url, htmx=htmx)
    user.groups.add(*teams[1:])
    add_tasks(user, teams, 55)
    large = count_queries(user, url, htmx=htmx)
    client = Client()
    client.force_login(user)
    body = client.get(url, headers={"HX-Request": "true"}).content.decode()
    return small, large, body.count("data-task-row ")


@pytest.mark.parametrize("url", URLS)
def test_partial_queries_are_constant(url: str) -> None:
    (small, _), (large, large_sql), rows = measure(url, htmx=True)
    assert rows > 5, f"{url}: the large page shows {rows} rows"
    assert small == large, f"{url}: {small} queries with 5 tasks, {large} with 60:\n{large_sql}"
    assert large <= PARTIAL_MAX, f"{url}: {large} queries:\n{large_sql}"


@pytest.mark.parametrize("url", ["/", "/queues/", "/?sort=priority", "/queues/?due=soon"])
def test_full_page_queries_are_constant(url: str) -> None:
    (small, _), (large, large_sql), _ = measure(url, htmx=False)
    assert small == large, f"{url}: {small} queries with 5 tasks, {large} with 60:\n{large_sql}"
    assert large <= PAGE_MAX, f"{url}: {large} queries:\n{large_sql}"


@pytest.mark.parametrize(
    ("name", "url"), [("my_tasks", "/"), ("team_queue", "/queues/?sort=-created")]
)
def test_the_check_catches_an_n_plus_1(
    monkeypatch: pytest.MonkeyPatch, name: str, url: str
) -> None:
    """Without select_related every row loads its instance (and team) on its own: the
    counts above then grow with the rows shown."""
    real: Callable[..., Any] = getattr(selectors, name)
    monkeypatch.setattr(selectors, name, lambda **kwargs: real(**kwargs).select_related(None))
    (small, _), (large, _), _ = measure(url, htmx=True)
    assert large > small
    assert large > PARTIAL_MAX


# --- Done: people by full name, without a query per row -------------------------------------


def add_handed_on(user: User, n: int) -> None:
    """n tasks ``user`` handed on: each reassigned to a person of its own (with a full name)
    or released to a team, as the events and the projection record it."""
    from workflows.models import Event

    now = timezone.now()
    others = [
        User.objects.create_user(
            f"person-{uuid.uuid4().hex[:8]}", first_name="Pat", last_name=f"N{i}"
        )
        for i in range(n)
    ]
    team, _ = Group.objects.get_or_create(name="finance_ops")
    instances = WorkflowInstance.objects.bulk_create(
        WorkflowInstance(instance_id=uuid.uuid4(), workflow_name="expense_approval")
        for _ in range(n)
    )
    tasks = [
        HumanTask(
            task_id=uuid.uuid4(),
            instance=instance,
            step_name="finance_review",
            assignee=f"group:{team.name}" if i % 2 else others[i].username,
            assignee_user=None if i % 2 else others[i],
            assignee_group=team if i % 2 else None,
            previous_assignee=f"user:{user.username}",
            last_reassigned_by=user.username,
            last_reassigned_at=now - timedelta(minutes=i),
            reassignment_count=1,
            created_at=now - timedelta(hours=1),
        )
        for i, instance in enumerate(instances)
    ]
    HumanTask.objects.bulk_create(tasks)
    Event.objects.bulk_create(
        Event(
            event_id=uuid.uuid4(),
            type="HumanTaskReassigned",
            instance_id=t.instance_id,
            task_id=t.task_id,
            timestamp=t.last_reassigned_at,
            payload={},
            source=f"dashboard:{user.username}",
            actor=user.username,
        )
        for t in tasks
    )


def test_done_names_people_with_no_query_per_row() -> None:
    user = User.objects.create_user("alice", first_name="Alice", last_name="Martin")
    add_handed_on(user, 4)
    small = count_queries(user, "/done/", htmx=True)
    add_handed_on(user, 20)
    large, sql = count_queries(user, "/done/", htmx=True)
    assert small[0] == large, f"{small[0]} queries with 4 rows, {large} with 24:\n{sql}"
    client = Client()
    client.force_login(user)
    body = client.get("/done/", headers={"HX-Request": "true"}).content.decode()
    assert body.count("data-task-row ") == 24
    # Reassigned to a person: their full name, username on hover; released: to the team.
    assert 'now with <span class="person" title="person-' in body and ">Pat N" in body
    assert "Released</span>" in body and "to Finance ops" in body
    assert "group:finance_ops" not in body and "user:" not in body
    assert "Expense approval" in body and "Finance review" in body
