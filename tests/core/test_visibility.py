"""One visibility rule everywhere: a person sees an instance's workflow and step events and
the task events of the tasks they may see; another person's task is at most "a task at step
X". Admins and managers see everything. Every surface is checked with marker strings that
only the other person's task carries: titles, description, people, comments, reasons and
form data.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from live import fragments
from tests.support import events as f
from tests.support.inbox_world import People, make_people
from workflows import actions
from workflows import selectors as core
from workflows.models import Event, HumanTask
from workflows.timeline import HIDDEN_ACTOR, HIDDEN_SOURCE
from workflows_ui import exports
from workflows_ui import selectors as console

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "string", "title": "Answer"}},
}

# Only carol's task carries these.
CAROL = {
    "title": "MARK-C-TITLE",
    "description": "MARK-C-DESC",
    "reassigned_by": "mark-c-reassigner",
    "from_assignee": "mark-c-from",
    "reason": "MARK-C-REASON",
}
# Only alice's task carries these.
ALICE = {
    "title": "MARK-A-TITLE",
    "description": "MARK-A-DESC",
    "reassigned_by": "mark-a-reassigner",
    "from_assignee": "mark-a-from",
    "reason": "MARK-A-REASON",
    "comment": "MARK-A-COMMENT",
    "form": "MARK-A-FORMDATA",
    "due": "2031-07-19",
}


class World:
    def __init__(self) -> None:
        self.people: People = make_people()
        self.iid = uuid.uuid4()
        self.carol_task = uuid.uuid4()
        self.alice_task = uuid.uuid4()
        iid, c, a = self.iid, self.carol_task, self.alice_task
        f.ingest(
            [
                f.workflow_started(iid, 0, workflow_name="visibility_flow", user_id="starter"),
                f.step_started(iid, 1, step_name="check", step_type="HUMAN"),
                f.human_task_created(
                    iid,
                    2,
                    task_id=c,
                    step_name="check",
                    assignee="mark-c-from",
                    title=CAROL["title"],
                    description=CAROL["description"],
                    form_schema=SCHEMA,
                ),
                f.human_task_reassigned(
                    iid,
                    3,
                    task_id=c,
                    step_name="check",
                    from_assignee=CAROL["from_assignee"],
                    to_assignee="carol",
                    reassigned_by=CAROL["reassigned_by"],
                    reason=CAROL["reason"],
                ),
                f.step_started(iid, 4, step_name="review", step_type="HUMAN"),
                f.human_task_created(
                    iid,
                    5,
                    task_id=a,
                    step_name="review",
                    assignee="mark-a-from",
                    title=ALICE["title"],
                    description=ALICE["description"],
                    due_at=f"{ALICE['due']}T10:00:00Z",
                ),
                f.human_task_reassigned(
                    iid,
                    6,
                    task_id=a,
                    step_name="review",
                    from_assignee=ALICE["from_assignee"],
                    to_assignee="alice",
                    reassigned_by=ALICE["reassigned_by"],
                    reason=ALICE["reason"],
                ),
                f.human_task_completed(
                    iid,
                    7,
                    task_id=a,
                    step_name="review",
                    completed_by="alice",
                    comment=ALICE["comment"],
                    form_data={"answer": ALICE["form"]},
                ),
                f.step_completed(iid, 8, step_name="review"),
            ]
        )

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client


@pytest.fixture
def world() -> World:
    return World()


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode()
    if hasattr(body, "streaming_content"):
        return b"".join(body.streaming_content).decode()
    return body.content.decode()  # type: ignore[no-any-return]


def _markers(of: dict[str, str]) -> list[str]:
    return list(of.values())


def assert_none(text: str, markers: dict[str, str], where: str) -> None:
    found = [m for m in _markers(markers) if m in text]
    assert not found, f"{where} shows {found}"


def assert_all(text: str, markers: dict[str, str], where: str, keys: list[str]) -> None:
    missing = [markers[k] for k in keys if markers[k] not in text]
    assert not missing, f"{where} lacks {missing}"


# --- the rule itself -------------------------------------------------------------------------


def test_the_rule_redacts_other_peoples_task_events_and_keeps_the_rest(world: World) -> None:
    every = core.instance_events(instance_id=world.iid, viewer=None)
    mine = core.instance_events(instance_id=world.iid, viewer=world.people.carol)
    assert [e.event_id for e in mine] == [e.event_id for e in every]  # nothing dropped
    for whole, seen in zip(every, mine, strict=True):
        if whole.task_id == world.alice_task:
            assert seen.payload == {"step_name": "review"}
            assert seen.task_id is None and seen.actor == "" and seen.source == HIDDEN_SOURCE
        else:
            assert (seen.payload, seen.source, seen.actor, seen.task_id) == (
                whole.payload,
                whole.source,
                whole.actor,
                whole.task_id,
            )
    entries = core.instance_timeline(instance_id=world.iid, viewer=world.people.carol)
    hidden = [e for e in entries if e.hidden]
    assert [e.sentence for e in hidden] == [
        "A task at step 'Review' was created",
        "A task at step 'Review' was reassigned",
        "A task at step 'Review' was completed",
    ]
    assert {e.actor for e in hidden} == {HIDDEN_ACTOR}
    assert not any(e.actor_links for e in hidden)
    assert_none(" ".join(e.sentence for e in entries), ALICE, "carol's timeline")


@pytest.mark.parametrize("who", ["admin", "erin"])
def test_admins_and_managers_see_every_event_whole(world: World, who: str) -> None:
    viewer = getattr(world.people, who)
    seen = core.instance_events(instance_id=world.iid, viewer=viewer)
    assert seen == core.instance_events(instance_id=world.iid, viewer=None)
    assert not any(e.hidden for e in core.instance_timeline(instance_id=world.iid, viewer=viewer))


# --- the task page and its partials ----------------------------------------------------------


def test_task_page_shows_only_my_task_in_the_timeline(world: World) -> None:
    client = world.client(world.people.carol)
    page = client.get(f"/tasks/{world.carol_task}/")
    assert page.status_code == 200
    html = _text(page)
    assert_none(html, ALICE, "carol's task page")
    assert_all(html, CAROL, "carol's task page", ["title", "reason", "reassigned_by"])
    assert "A task at step &#x27;Review&#x27; was completed" in html
    # ... and alice, on her own task, sees hers but not carol's.
    html = _text(world.client(world.people.alice).get(f"/tasks/{world.alice_task}/"))
    assert_none(html, CAROL, "alice's task page")
    assert_all(html, ALICE, "alice's task page", ["title", "comment", "reason", "form"])


def test_task_page_partials_and_refused_forms_show_no_other_task(world: World) -> None:
    client = world.client(world.people.carol)
    url = f"/tasks/{world.carol_task}"
    responses = {
        "complete (page)": client.post(f"{url}/complete/", {"comment": "x"}),
        "complete (htmx)": client.post(
            f"{url}/complete/", {"comment": "x"}, HTTP_HX_REQUEST="true"
        ),
        "reassign (page)": client.post(f"{url}/reassign/", {"to_assignee": "alice"}),
        "reassign (htmx)": client.post(
            f"{url}/reassign/", {"to_assignee": "alice"}, HTTP_HX_REQUEST="true"
        ),
    }
    for name, response in responses.items():
        assert response.status_code in (200, 422), name
        assert_none(_text(response), ALICE, name)
    # The full page that a refused form renders holds the timeline, redacted.
    assert "A task at step &#x27;Review&#x27; was created" in _text(responses["complete (page)"])


def test_other_peoples_task_page_is_a_404(world: World) -> None:
    client = world.client(world.people.carol)
    assert client.get(f"/tasks/{world.alice_task}/").status_code == 404


# --- live fragments --------------------------------------------------------------------------


def test_live_instance_regions_follow_the_rule(world: World) -> None:
    kinds = ("workflow", "step", "task")
    assert fragments.instance_regions(str(world.iid), kinds, world.people.carol) == ""
    for who in ("admin", "erin"):
        html = fragments.instance_regions(str(world.iid), kinds, getattr(world.people, who))
        assert_all(html, ALICE, f"{who}'s live timeline", ["title", "comment", "reason"])
        assert_all(html, CAROL, f"{who}'s live timeline", ["title", "reason"])


def test_live_banner_of_a_task_that_left_my_sight_names_nobody(world: World) -> None:
    carol, admin = world.people.carol, world.people.admin
    task = HumanTask.objects.get(task_id=world.carol_task)
    actions.reassign_task(task=task, user=admin, to_assignee="alice", reason="MARK-MOVED-AWAY")
    task.refresh_from_db()
    banner = fragments.task_banner(task, carol)
    assert fragments.GONE_BANNER in banner
    assert "MARK-MOVED-AWAY" not in banner and "admin" not in banner and "alice" not in banner
    # alice, who may see it now, is told the whole story.
    told = fragments.task_banner(task, world.people.alice)
    assert "Ada Admin reassigned this task to Alice Martin" in told


# --- the API ---------------------------------------------------------------------------------


def test_api_instance_shows_other_tasks_as_steps_only(world: World) -> None:
    client = world.client(world.people.carol)
    response = client.get(f"/api/instances/{world.iid}")
    assert response.status_code == 200
    assert_none(_text(response), ALICE, "/api/instances/{id} for carol")
    body = response.json()
    assert [t["task_id"] for t in body["tasks"]] == [str(world.carol_task)]
    hidden = [e for e in body["timeline"] if e["source"] == HIDDEN_SOURCE]
    assert [e["type"] for e in hidden] == [
        "HumanTaskCreated",
        "HumanTaskReassigned",
        "HumanTaskCompleted",
    ]
    assert all(e["payload"] == {"step_name": "review"} for e in hidden)
    assert len(body["timeline"]) == Event.objects.filter(instance_id=world.iid).count()


def test_api_lists_show_no_other_task(world: World) -> None:
    client = world.client(world.people.carol)
    for url in ("/api/tasks", f"/api/tasks?instance_id={world.iid}", "/api/instances"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_none(_text(response), ALICE, url)


@pytest.mark.parametrize("who", ["admin", "erin"])
def test_api_shows_admins_and_managers_everything(world: World, who: str) -> None:
    client = world.client(getattr(world.people, who))
    text = _text(client.get(f"/api/instances/{world.iid}"))
    assert_all(text, ALICE, "/api/instances/{id}", list(ALICE))
    assert_all(text, CAROL, "/api/instances/{id}", list(CAROL))


def test_api_token_sees_everything(world: World, api_client: Client) -> None:
    text = _text(api_client.get(f"/api/instances/{world.iid}"))
    assert_all(text, ALICE, "/api/instances/{id} for a token", list(ALICE))


# --- the console: pages, step chart, person page, exports ------------------------------------


def _console_urls(world: World) -> dict[str, str]:
    return {
        "instance page": f"/workflows/{world.iid}/",
        "instance timeline partial": f"/workflows/{world.iid}/?kind=task",
        "history": "/workflows/history/",
        "audit": "/workflows/history/audit/",
        "person": "/workflows/history/people/alice/",
        "events export": f"/workflows/export/events.csv?instance={world.iid}&scope=all",
        "tasks export": "/workflows/export/tasks.csv",
    }


def test_console_is_a_404_for_assignees(world: World) -> None:
    client = world.client(world.people.carol)
    for name, url in _console_urls(world).items():
        response = client.get(url)
        assert response.status_code == 404, name
        assert_none(_text(response), ALICE, name)


@pytest.mark.parametrize("who", ["admin", "erin"])
def test_console_shows_admins_and_managers_everything(world: World, who: str) -> None:
    client = world.client(getattr(world.people, who))
    urls = _console_urls(world)
    page = _text(client.get(urls["instance page"]))
    # The timeline, and the step chart (the gantt) with both tasks.
    assert_all(page, ALICE, "instance page", ["title", "comment", "reason", "reassigned_by"])
    assert_all(page, CAROL, "instance page", ["title", "reason", "reassigned_by"])
    chart = page[page.index('class="gantt') :] if 'class="gantt' in page else page
    assert ALICE["title"] in chart and CAROL["title"] in chart
    partial = _text(client.get(urls["instance timeline partial"], HTTP_HX_REQUEST="true"))
    assert_all(partial, ALICE, "timeline partial", ["title", "comment", "reason"])
    assert ALICE["title"] in _text(client.get(urls["history"]))
    assert ALICE["title"] in _text(client.get(urls["person"]))
    events_csv = _text(client.get(urls["events export"]))
    assert_all(events_csv, ALICE, "events export", ["comment", "reason", "form"])
    assert ALICE["comment"] in _text(client.get(urls["tasks export"]))


def test_events_export_for_a_person_is_redacted(world: World) -> None:
    """The export streams through the same rule: a person who sees less gets less."""
    qs = console.export_events(filters={"instance": world.iid}, audit_only=False)
    response = exports.export_events(queryset=qs, viewer=world.people.carol, stamp=console.now())
    text = _text(response)
    assert_none(text, ALICE, "events export for carol")
    assert_all(text, CAROL, "events export for carol", ["title", "reason", "reassigned_by"])
    rows = text.strip().splitlines()
    assert len(rows) == 1 + Event.objects.filter(instance_id=world.iid).count()
    hidden = [r for r in rows if HIDDEN_SOURCE in r]
    assert len(hidden) == 3
    assert all(json.dumps({"step_name": "review"}) in r.replace('""', '"') for r in hidden)
