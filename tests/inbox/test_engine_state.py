"""The workflow's state on the task page, and completion refused while it is paused or ended:
in the core, through the page (409, what was typed kept) and through the API (409,
ConflictOut). Reassigning, claiming and releasing stay allowed while it is paused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from tests.support import events as f
from tests.support.inbox_world import People, counts, make_people, make_task, reload
from workflows import actions
from workflows.models import HumanTask, WorkflowInstance

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "title": "Amount"}},
    "required": ["amount"],
}


@pytest.fixture
def people() -> People:
    return make_people()


def as_user(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def instance_of(task: HumanTask) -> WorkflowInstance:
    return WorkflowInstance.objects.get(instance_id=task.instance_id)


def pause(task: HumanTask, people: People, reason: str = "waiting for the auditor") -> None:
    actions.pause_instance(instance_id=task.instance_id, user=people.admin, reason=reason)


def tag(html: str, id_: str) -> str:
    """The opening tag of the element with this id."""
    found = re.search(rf'<[^>]*\bid="{re.escape(id_)}"[^>]*>', html)
    assert found, f"no element #{id_}"
    return found.group(0)


def complete_form(html: str) -> str:
    start = html.index('id="complete-form"')
    return html[start : html.index("</section>", start)]


# --- the core --------------------------------------------------------------------------------


def test_completing_a_task_of_a_paused_workflow_is_refused_and_nothing_is_stored(
    people: People,
) -> None:
    task = make_task(assignee="alice")
    pause(task, people)
    before = counts()
    with pytest.raises(actions.WorkflowNotActive) as refused:
        actions.complete_task(task=task, user=people.alice, form_data=None, comment="done")
    assert counts() == before
    assert reload(task).status == HumanTask.Status.OPEN
    assert refused.value.message.startswith("This workflow is paused by Ada Admin since ")
    assert refused.value.message.endswith(
        ": waiting for the auditor. The task can be completed when it resumes."
    )


def test_a_pause_after_the_task_was_read_is_seen_by_the_completion(people: People) -> None:
    task = make_task(assignee="alice")
    stale = HumanTask.objects.select_related("instance").get(pk=task.pk)  # read while running
    pause(task, people)
    with pytest.raises(actions.WorkflowNotActive):
        actions.complete_task(task=stale, user=people.alice, form_data=None)


def test_after_resume_the_task_can_be_completed(people: People) -> None:
    task = make_task(assignee="alice")
    pause(task, people)
    actions.resume_instance(instance_id=task.instance_id, user=people.admin)
    done = actions.complete_task(task=reload(task), user=people.alice, form_data=None)
    assert done.status == HumanTask.Status.COMPLETED


def test_an_engine_pause_names_the_engine(people: People) -> None:
    task = make_task(assignee="alice")
    f.ingest([f.workflow_paused(task.instance_id, task.created_at + timedelta(minutes=1))])
    state = actions.workflow_state(instance_of(task))
    assert not state.can_complete
    assert state.message.startswith("This workflow is paused by its engine since ")
    assert state.message.endswith(". The task can be completed when it resumes.")


def test_reassign_and_claim_stay_allowed_in_a_paused_workflow(people: People) -> None:
    task = make_task(assignee="finance")
    pause(task, people)
    claimed = actions.claim_task(task=task, user=people.bob)
    assert claimed.assignee == "user:bob"
    released = actions.release_task(task=claimed, user=people.bob)
    assert released.assignee == "finance"  # the queue it came from
    moved = actions.reassign_task(
        task=released, user=people.alice, to_assignee="carol", reason="She knows it"
    )
    assert moved.assignee == "carol"


def test_a_task_of_a_canceled_workflow_is_refused_with_the_workflow_s_words(
    people: People,
) -> None:
    task = make_task(assignee="alice")
    actions.cancel_instance(instance_id=task.instance_id, user=people.admin, reason="duplicate")
    closed = HumanTask.objects.select_related("instance").get(pk=task.pk)
    assert closed.status == HumanTask.Status.CANCELED  # the fold closed it with its workflow
    before = counts()
    with pytest.raises(actions.WorkflowNotActive) as refused:
        actions.complete_task(task=task, user=people.alice, form_data=None)
    assert counts() == before
    assert re.fullmatch(
        r"This workflow was canceled by Ada Admin on .+: duplicate\. "
        r"Its tasks can no longer be completed\.",
        refused.value.message,
    )
    assert actions.describe_task_state(closed) == refused.value.message


def test_a_failed_workflow_gives_its_error_summary(people: People) -> None:
    task = make_task(assignee="alice")
    f.ingest(
        [
            f.workflow_failed(
                task.instance_id,
                task.created_at + timedelta(minutes=1),
                error="card declined\nTraceback (most recent call last): ...",
                error_type="PaymentError",
                failed_step="charge",
            )
        ]
    )
    with pytest.raises(actions.WorkflowNotActive) as refused:
        actions.complete_task(task=task, user=people.alice, form_data=None)
    message = refused.value.message
    assert " at step Charge: PaymentError: card declined. " in message
    assert "Traceback" not in message
    assert message.startswith("This workflow failed on ")


def test_a_long_error_is_cut_to_a_summary() -> None:
    instance = WorkflowInstance(status=WorkflowInstance.Status.FAILED, error="x" * 5000)
    state = actions.workflow_state(instance)
    assert len(state.message) < 400
    assert "x" * (actions.ERROR_SUMMARY_LENGTH - 1) + "…" in state.message


@pytest.mark.parametrize("status", ["running", "waiting"])
def test_running_and_waiting_workflows_say_nothing(status: str) -> None:
    state = actions.workflow_state(WorkflowInstance(status=status))
    assert state.can_complete and state.message == ""


# --- the task page ---------------------------------------------------------------------------


def test_task_page_of_a_paused_workflow_shows_the_banner_and_holds_the_form(
    people: People,
) -> None:
    task = make_task(assignee="finance", form_schema=SCHEMA)
    pause(task, people, reason="audit <b>first</b>")
    html = as_user(people.alice).get(f"/tasks/{task.task_id}/").content.decode()
    banner = html[html.index('id="workflow-state"') :]
    banner = banner[: banner.index("</div>")]
    assert "This workflow is paused by Ada Admin since " in banner
    assert ": audit &lt;b&gt;first&lt;/b&gt;. The task can be completed when it resumes." in banner
    assert "data-hold-complete" in tag(html, "workflow-state")
    form = complete_form(html)
    assert 'aria-disabled="true"' in form
    for field in ("id_f_amount", "id_comment"):
        assert " disabled" in tag(form, field) and 'aria-disabled="true"' in tag(form, field)
    button = re.search(r"<button[^>]*>Complete task</button>", form)
    assert button and " disabled" in button.group(0)
    # Reassigning, claiming stay open: the task waits for whoever holds it when it resumes.
    assert " disabled" not in tag(html, "id_to_assignee")
    assert re.search(r"<button class=\"primary\" type=\"submit\"[^>]*>Claim</button>", html)
    assert 'class="badge status-paused"' in tag(html, "task-instance-status")


def test_task_page_of_a_running_workflow_has_no_banner_and_an_open_form(people: People) -> None:
    task = make_task(assignee="alice")
    html = as_user(people.alice).get(f"/tasks/{task.task_id}/").content.decode()
    assert "data-hold-complete" not in tag(html, "workflow-state")
    assert "This workflow" not in html
    assert " disabled" not in tag(html, "id_comment")


@pytest.mark.parametrize("ending", ["canceled", "failed"])
def test_task_page_of_an_ended_workflow_says_how_it_ended(people: People, ending: str) -> None:
    task = make_task(assignee="alice")
    at = task.created_at + timedelta(minutes=1)
    if ending == "canceled":
        actions.cancel_instance(instance_id=task.instance_id, user=people.admin, reason="dup")
        words = "This workflow was canceled by Ada Admin on "
    else:
        f.ingest([f.workflow_failed(task.instance_id, at, error="disk full")])
        words = "This workflow failed on "
    html = as_user(people.alice).get(f"/tasks/{task.task_id}/").content.decode()
    assert words in html
    assert "Its tasks can no longer be completed." in html
    assert 'id="complete-form"' not in html


def test_page_completion_of_a_paused_workflow_is_409_and_keeps_what_was_typed(
    people: People,
) -> None:
    task = make_task(assignee="alice", form_schema=SCHEMA)
    pause(task, people)
    before = counts()
    response = as_user(people.alice).post(
        f"/tasks/{task.task_id}/complete/", {"f_amount": "412", "comment": "Checked the receipt"}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert counts() == before
    assert "Not completed: This workflow is paused by Ada Admin since " in html
    assert 'value="412"' in tag(html, "id_f_amount")
    assert "Checked the receipt</textarea>" in html
    assert " disabled" in tag(html, "id_comment")


def test_htmx_completion_of_a_paused_workflow_swaps_the_refused_form_in(people: People) -> None:
    task = make_task(assignee="alice")
    pause(task, people)
    response = as_user(people.alice).post(
        f"/tasks/{task.task_id}/complete/", {"comment": "typed"}, HTTP_HX_REQUEST="true"
    )
    # htmx swaps no error response: the form's partial comes with 200, as a 422 does.
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="complete-form"')
    assert "Not completed: This workflow is paused" in html
    assert "typed</textarea>" in html


def test_page_completion_of_a_canceled_workflow_says_it_was_canceled(people: People) -> None:
    task = make_task(assignee="alice")
    actions.cancel_instance(instance_id=task.instance_id, user=people.admin, reason="dup")
    client = as_user(people.alice)
    response = client.post(f"/tasks/{task.task_id}/complete/", {"comment": "x"}, follow=True)
    html = response.content.decode()
    assert "This workflow was canceled by Ada Admin on " in html
    assert reload(task).status == HumanTask.Status.CANCELED


# --- the API ---------------------------------------------------------------------------------


def api_complete(c: Client, task: HumanTask) -> Any:
    return c.post(f"/api/tasks/{task.task_id}/complete", {"comment": "via API"}, "application/json")


def test_api_completion_of_a_paused_workflow_is_409_conflict_out(people: People) -> None:
    task = make_task(assignee="alice")
    pause(task, people)
    before = counts()
    response = api_complete(as_user(people.alice), task)
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"detail", "task"}
    assert body["detail"].startswith("This workflow is paused by Ada Admin since ")
    assert body["task"]["task_id"] == str(task.task_id)
    assert body["task"]["status"] == "open"
    assert counts() == before


def test_api_completion_of_a_canceled_workflow_is_409_in_the_workflow_s_words(
    people: People,
) -> None:
    task = make_task(assignee="alice")
    actions.cancel_instance(instance_id=task.instance_id, user=people.admin, reason="dup")
    response = api_complete(as_user(people.alice), task)
    assert response.status_code == 409
    assert response.json()["detail"].startswith("This workflow was canceled by Ada Admin on ")
    assert response.json()["task"]["status"] == "canceled"


def test_api_reassign_in_a_paused_workflow_is_allowed(people: People) -> None:
    task = make_task(assignee="alice")
    pause(task, people)
    response = as_user(people.alice).post(
        f"/api/tasks/{task.task_id}/reassign",
        {"to_assignee": "bob", "reason": "holiday"},
        "application/json",
    )
    assert response.status_code == 200
    assert response.json()["assignee"] == "bob"


# --- a pause and a completion at the same moment (PostgreSQL) --------------------------------


@pytest.mark.django_db(transaction=True)
def test_pause_against_completion_never_completes_in_a_paused_workflow() -> None:
    from django.db import connection

    from tests.inbox.test_inbox_race import complete, race
    from workflows.models import Event

    if connection.vendor != "postgresql":
        pytest.skip("this race needs PostgreSQL; on SQLite the write lock serialises them")
    people = make_people()

    def pause_it(task: HumanTask, user: Any) -> Any:
        return actions.pause_instance(instance_id=task.instance_id, user=user, reason="race")

    for _ in range(4):
        task = make_task(assignee="alice")
        outcome = race(task.task_id, [people.alice, people.admin], [complete, pause_it])
        assert outcome["admin"] == "won", outcome  # a pause never waits on a task
        after = reload(task)
        paused = Event.objects.get(instance_id=task.instance_id, type="WorkflowPaused")
        if outcome["alice"] == "won":
            done = Event.objects.get(task_id=task.task_id, type="HumanTaskCompleted")
            assert done.seq < paused.seq  # completed while it ran, then paused
            assert after.status == HumanTask.Status.COMPLETED
        else:
            assert isinstance(outcome["alice"], actions.WorkflowNotActive), outcome
            assert after.status == HumanTask.Status.OPEN
        assert after.instance.status == WorkflowInstance.Status.PAUSED
