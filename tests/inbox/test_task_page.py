"""The task page's additions (issue 11, item 8): the workflow's business key, the link to the
console's instance page, submitted data in the timeline, the next task after completing, and
the focus on the first error after a failed submit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.support import events as f
from tests.support.inbox_world import People, from_now, make_people, make_task, row_html, text
from workflows.business_key import business_key
from workflows.models import HumanTask

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decision", "amount"],
    "properties": {
        "decision": {"type": "string", "title": "Decision", "enum": ["approve", "reject"]},
        "amount": {"type": "number", "title": "Amount", "maximum": 5000},
    },
}


@pytest.fixture
def people() -> People:
    return make_people()


def as_user(user: object) -> Client:
    c = Client()
    c.force_login(user)  # type: ignore[arg-type]
    return c


# --- the business key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"report_id": "EXP-2026-4916", "employee": "dave", "amount": 12.5}, "EXP-2026-4916"),
        ({"title": "NDA", "document_id": "DOC-4821", "author": "bob"}, "DOC-4821"),
        # A named key wins over anything that looks like a reference.
        ({"report_id": "EXP-2026-4916", "business_key": "ACME/42"}, "ACME/42"),
        ({"request_id": 1234, "order": "ORD-99"}, "1234"),
        ({"reference": "  R-7  "}, "R-7"),
        # Of several references, the one under the first key in sorted order.
        ({"z_ref": "ZZ-1", "a_ref": "AA-2"}, "AA-2"),
        # Not references: names, e-mails, dates, words with a dash, booleans, nested values.
        ({"employee_name": "Ana López", "email": "ana@example.com", "start": "2026-12-01"}, ""),
        ({"kind": "follow-up", "business_key": True, "nested": {"ref": "EXP-1"}}, ""),
        ({"business_key": "x" * 101}, ""),
        (None, ""),
        (["EXP-1"], ""),
    ],
)
def test_business_key_rule(data: Any, key: str) -> None:
    assert business_key(data) == key


def test_task_page_and_list_row_show_the_business_key(people: People) -> None:
    task = make_task(initial_data={"report_id": "EXP-2026-4916", "amount": 12})
    alice = as_user(people.alice)
    page = text(alice.get(f"/tasks/{task.task_id}/"))
    assert re.search(r"<dt>Business key</dt><dd[^>]*>EXP-2026-4916</dd>", page)
    assert "EXP-2026-4916" in row_html(text(alice.get("/")), task)
    plain = make_task(initial_data={"employee_name": "Ana"})
    assert "Business key" not in text(alice.get(f"/tasks/{plain.task_id}/"))


# --- the link to the instance ------------------------------------------------------------------


@pytest.mark.parametrize(("who", "linked"), [("alice", False), ("admin", True), ("erin", True)])
def test_instance_link_only_for_those_who_may_read_the_console(
    people: People, who: str, linked: bool
) -> None:
    task = make_task()
    client = as_user(getattr(people, who))
    page = text(client.get(f"/tasks/{task.task_id}/"))
    href = f'href="/workflows/{task.instance_id}/"'
    assert (href in page) is linked
    assert str(task.instance_id) in page  # the id itself is shown to everyone who sees the task
    if linked:
        assert client.get(f"/workflows/{task.instance_id}/").status_code == 200
    else:
        assert client.get(f"/workflows/{task.instance_id}/").status_code == 404


# --- submitted data in the timeline ------------------------------------------------------------


def _two_completed_tasks() -> tuple[HumanTask, HumanTask]:
    """One instance: alice's task and carol's, both completed with form data."""
    mine = make_task(assignee="alice", title="Alice's check", step_name="check")
    iid = mine.instance_id
    carol_task = f.new_id()
    f.ingest(
        [
            f.human_task_completed(
                iid,
                from_now(minutes=-30),
                task_id=mine.task_id,
                step_name="check",
                completed_by="alice",
                form_data={"approved_amount": 4500, "urgent": True},
            ),
            f.human_task_created(
                iid,
                from_now(minutes=-20),
                task_id=carol_task,
                step_name="hr_review",
                assignee="carol",
                title="Carol's review",
            ),
            f.human_task_completed(
                iid,
                from_now(minutes=-10),
                task_id=carol_task,
                step_name="hr_review",
                completed_by="carol",
                form_data={"salary_band": "SECRET-B7"},
            ),
        ]
    )
    return HumanTask.objects.get(task_id=mine.task_id), HumanTask.objects.get(task_id=carol_task)


def _submitted(page: str) -> list[str]:
    return re.findall(r'<details class="submitted">(.*?)</details>', page, re.S)


def test_submitted_data_is_shown_only_to_those_who_see_that_task(people: People) -> None:
    mine, carols = _two_completed_tasks()
    page = text(as_user(people.alice).get(f"/tasks/{mine.task_id}/"))
    shown = _submitted(page)
    assert len(shown) == 1
    assert "<summary>Submitted data</summary>" in shown[0]
    assert "4,500" in shown[0] and "Yes" in shown[0]
    assert "SECRET-B7" not in page  # carol's task: "a task at step 'hr_review' was completed"
    assert "A task at step &#x27;HR review&#x27; was completed" in page

    manager = text(as_user(people.erin).get(f"/tasks/{carols.task_id}/"))
    assert len(_submitted(manager)) == 2
    assert "SECRET-B7" in manager and "4,500" in manager


# --- after completing: the next task -----------------------------------------------------------


def test_completing_offers_the_next_task_of_my_tasks(people: People) -> None:
    first = make_task(title="Due first", due=from_now(hours=1))
    later = make_task(title="Due later", due=from_now(days=2))
    make_task(title="Not mine", assignee="bob", due=from_now(minutes=5))
    alice = as_user(people.alice)
    response = alice.post(f"/tasks/{first.task_id}/complete/", {"comment": "done"}, follow=True)
    assert response.redirect_chain == [(f"/tasks/{first.task_id}/?completed=1", 302)]
    page = text(response)
    link = re.search(
        r'<a class="button primary" id="next-task-link" href="([^"]+)" autofocus>', page
    )
    assert link and link.group(1) == f"/tasks/{later.task_id}/"
    assert "Open next task" in page and "Due later" in page
    assert "Completed “Due first”." in page

    # The htmx path lands on the same page; the offer is not made on a plain visit.
    response = alice.post(f"/tasks/{later.task_id}/complete/", {}, **HX)
    assert response["HX-Redirect"] == f"/tasks/{later.task_id}/?completed=1"
    page = text(alice.get(response["HX-Redirect"]))
    assert "No more tasks — back to My tasks" in page
    assert 'id="next-task"' not in text(alice.get(f"/tasks/{later.task_id}/"))
    # Nor to someone else looking at a task alice completed.
    assert 'id="next-task"' not in text(
        as_user(people.erin).get(f"/tasks/{later.task_id}/?completed=1")
    )


def test_the_next_task_without_a_title_is_named_by_its_step(people: People) -> None:
    first = make_task(title="Due first", due=from_now(hours=1))
    untitled = make_task(step_name="hr_review", due=from_now(days=1))
    HumanTask.objects.filter(pk=untitled.pk).update(title="")
    page = text(as_user(people.alice).post(f"/tasks/{first.task_id}/complete/", {}, follow=True))
    assert "Next in My tasks: <strong>HR review</strong>" in page
    # The button and the way back sit apart, as actions.
    assert '<p class="actions"><a class="button primary" id="next-task-link"' in page


# --- a failed submit: focus on the first error -------------------------------------------------


def _tag(html: str, element_id: str) -> str:
    match = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', html)
    assert match, element_id
    return match.group(0)


@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_failed_submit_focuses_the_first_invalid_field(
    people: People, headers: dict[str, str]
) -> None:
    task = make_task(form_schema=SCHEMA)
    response = as_user(people.alice).post(
        f"/tasks/{task.task_id}/complete/", {"f_decision": "", "f_amount": "9000"}, **headers
    )
    assert response.status_code == (200 if headers else 422)
    html = text(response)
    decision, amount = _tag(html, "id_f_decision"), _tag(html, "id_f_amount")
    # The first in the form's order: the schema's on SQLite; PostgreSQL's jsonb keeps keys
    # shorter first, so there "amount" comes before "decision".
    first, second = sorted((decision, amount), key=html.index)
    assert "autofocus" in first and "autofocus" not in second
    for tag, name in ((decision, "id_f_decision"), (amount, "id_f_amount")):
        assert 'aria-invalid="true"' in tag
        assert f"{name}_error" in re.search(r'aria-describedby="([^"]*)"', tag).group(1)  # type: ignore[union-attr]
    # The summary at the top links to each field.
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert summary
    in_form_order = sorted(["id_f_decision", "id_f_amount"], key=lambda i: html.index(f'id="{i}"'))
    assert re.findall(r'href="#([^"]+)"', summary.group(0)) == in_form_order
    assert reload_open(task)


def reload_open(task: HumanTask) -> bool:
    return HumanTask.objects.get(pk=task.pk).is_open


def test_a_failed_reassign_focuses_and_describes_its_field(people: People) -> None:
    task = make_task()
    html = text(
        as_user(people.alice).post(
            f"/tasks/{task.task_id}/reassign/", {"to_assignee": "nobody-here", "reason": "x"}
        )
    )
    tag = _tag(html, "id_to_assignee")
    assert "autofocus" in tag and 'aria-invalid="true"' in tag
    assert "id_to_assignee_error" in tag
    assert 'id="id_to_assignee_error"' in html
