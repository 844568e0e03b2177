"""The console says workflows, steps and people as people read them: a claim, a release
and a reassignment each as what it is, full names with usernames on hover, and no
``user:`` / ``group:`` prefixes or code names in the text."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.support.inbox_world import make_people, make_task, reload
from workflows import actions

pytestmark = pytest.mark.django_db

BOB = '<span class="person" title="bob">Bob Chen</span>'
ALICE = '<span class="person" title="alice">Alice Martin</span>'


def visible_text(html: str) -> str:
    """The page's text, without tags or attribute values (where machine names may stay)."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def world() -> tuple[Client, object]:
    people = make_people()
    task = make_task(
        assignee="group:finance",
        title="",
        workflow="finance_approval",
        step_name="manager_review",
        priority=2,
    )
    actions.claim_task(task=reload(task), user=people.bob)
    actions.release_task(task=reload(task), user=people.bob)
    actions.claim_task(task=reload(task), user=people.alice)
    actions.reassign_task(task=reload(task), user=people.alice, to_assignee="carol", reason="HR")
    client = Client()
    client.force_login(people.erin)
    return client, reload(task)


def test_the_instance_timeline_says_claim_release_and_reassign(world) -> None:
    client, task = world
    html = client.get(reverse("workflows_ui:instance_detail", args=[task.instance_id])).content
    html = html.decode()
    assert f"{BOB} claimed &#x27;Manager review&#x27;" not in html  # no title: the step's label
    assert f"{BOB} claimed the task of step &#x27;Manager review&#x27;" in html
    assert f"{BOB} released the task of step &#x27;Manager review&#x27; to Finance" in html
    assert f"{ALICE} claimed the task of step" in html
    assert (
        f"{ALICE} reassigned the task of step &#x27;Manager review&#x27; from {ALICE} "
        f'to <span class="person" title="carol">Carol Diaz</span>: HR'
    ) in html
    text = visible_text(html)
    for raw in ("user:", "group:", "finance_approval", "manager_review", "Claimed from the"):
        assert raw not in text, raw
    assert "Finance approval" in text


def test_history_audit_and_person_pages_use_names(world) -> None:
    client, _ = world
    history = client.get(reverse("workflows_ui:history")).content.decode()
    assert 'now with <span class="person" title="carol">Carol Diaz</span>' in history
    assert f"(by {ALICE})" in history
    audit = client.get(reverse("workflows_ui:audit")).content.decode()
    assert f"{BOB} released" in audit
    assert 'title="bob">Bob Chen</a>' in audit  # the actor's link: full name, username on hover
    person = client.get(reverse("workflows_ui:person_activity", args=["bob"])).content.decode()
    assert "<h1>Activity of Bob Chen" in person and "(bob)" in person
    for html in (history, audit, person):
        text = visible_text(html)
        for raw in ("user:", "group:", "manager_review"):
            assert raw not in text, raw


def test_the_task_page_and_done_say_what_happened(world) -> None:
    client, task = world
    people_client = Client()
    from django.contrib.auth.models import User

    people_client.force_login(User.objects.get(username="bob"))
    done = people_client.get(reverse("done")).content.decode()
    row = done.split(f'id="task-row-{task.task_id}"')[1].split("</tr>")[0]
    assert "Reassigned</span>" in row
    assert 'now with <span class="person" title="carol">Carol Diaz</span>' in row
    page = client.get(reverse("task_detail", args=[task.task_id])).content.decode()
    assert "<dt>Priority</dt><dd>Urgent</dd>" in page
    assert '<h1 id="task-title">Manager review</h1>' in page
    timeline = page.split('id="task-timeline"')[1].split("</ol>")[0]
    assert f"{BOB} claimed" in timeline and f"{BOB} released" in timeline
    assert "user:" not in visible_text(timeline) and "group:" not in visible_text(timeline)


def test_history_resolves_its_names_once_per_page() -> None:
    """Full names cost two queries per page (users, groups), not one per row."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    people = make_people()
    client = Client()
    client.force_login(people.erin)

    def add(n: int) -> None:
        for i in range(n):
            holder = User.objects.create_user(
                f"holder-{User.objects.count()}", first_name="Hol", last_name=f"Der{i}"
            )
            task = make_task(assignee=holder.username)
            actions.reassign_task(task=reload(task), user=holder, to_assignee="bob", reason="x")

    def queries() -> int:
        client.get(reverse("workflows_ui:history"))
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(reverse("workflows_ui:history")).content.decode()
        assert "Hol Der0</span>" in html
        return len(ctx.captured_queries)

    add(2)
    small = queries()
    add(8)
    assert queries() == small


def test_the_instance_page_reads_initial_data_as_facts_with_the_json_folded() -> None:
    people = make_people()
    task = make_task(
        assignee="alice",
        initial_data={"report_id": "EXP-2026-4916", "amount": 1250.5, "urgent": True},
    )
    client = Client()
    client.force_login(people.erin)
    html = client.get(reverse("workflows_ui:instance_detail", args=[task.instance_id])).content
    page = html.decode()
    facts = page.split('id="data-h"')[1].split("</section>")[0]
    assert "<dt>Report ID</dt><dd>EXP-2026-4916</dd>" in facts
    assert "<dt>Amount</dt><dd>1,250.5</dd>" in facts
    assert "<dt>Urgent</dt><dd>Yes</dd>" in facts
    # The JSON as the engine sent it stays one click away.
    raw = facts.split('<details class="raw-data">')[1]
    assert "&quot;report_id&quot;: &quot;EXP-2026-4916&quot;" in raw
