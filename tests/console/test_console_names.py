"""Any name an engine may send works in every link and page: slashes, spaces, ``%``, ``?``,
``#``, Unicode, dot segments, leading and trailing slashes, a backslash, 150 characters.
Each person link is read out of the rendered HTML and followed, and must land on exactly
that person's page."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve, reverse

from tests.support import events as f
from tests.support.inbox_world import role
from workflows import actions

pytestmark = pytest.mark.django_db

NASTY = [
    "svc/engine",
    "CORP/alice",
    "CORP\\bob",
    "Ann Lee",
    "100%",
    "%2F",
    "%",
    "who?",
    "#1",
    "a&b=c+d",
    "José Müller",
    "名前",
    "..",
    ".",
    "a/../b",
    "/lead",
    "trail/",
    "//",
    " spaced ",
    "x" * 150,
]

TITLE = "Sign the contract"


def _ingest_everywhere(name: str) -> uuid.UUID:
    """An instance whose events name ``name`` in every people field an engine sends."""
    iid, done, moved = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    f.ingest(
        [
            f.workflow_started(iid, 0, workflow_name="names_flow", user_id=name),
            f.human_task_created(iid, 1, task_id=done, assignee=name, title=TITLE),
            f.human_task_reassigned(
                iid, 2, task_id=done, from_assignee=name, to_assignee=name, reassigned_by=name
            ),
            f.human_task_completed(iid, 3, task_id=done, completed_by=name, comment="fine"),
            f.human_task_created(iid, 4, task_id=moved, step_name="second", assignee=name),
            f.workflow_paused(iid, 5),
            f.workflow_resumed(iid, 6, resumed_by=name),
            f.workflow_canceled(iid, 7, canceled_by=name, reason="done with it"),
        ]
    )
    return iid


def _hrefs(page: str, prefix: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page) if h.startswith(prefix)]


PEOPLE = "/workflows/history/people/"


@pytest.fixture
def manager() -> Client:
    user = User.objects.create_user("manny")
    user.groups.add(role("Managers"))
    client = Client()
    client.force_login(user)
    return client


def test_ordinary_names_keep_their_urls() -> None:
    assert reverse("workflows_ui:person_activity", args=["alice"]) == f"{PEOPLE}alice/"
    assert reverse("workflows_ui:person_activity", args=["a.b-c_d@x"]) == f"{PEOPLE}a.b-c_d@x/"
    # The links made before this converter (one encoding) still find the person.
    assert resolve(f"{PEOPLE}Ann Lee/").kwargs == {"username": "Ann Lee"}


@pytest.mark.parametrize("name", NASTY)
def test_person_links_round_trip(name: str) -> None:
    url = reverse("workflows_ui:person_activity", args=[name])
    assert url.startswith(PEOPLE) and url.endswith("/")
    segment = url[len(PEOPLE) : -1]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert "\\" not in segment and segment not in (".", "..")
    # What a server hands Django: the path decoded once.
    from urllib.parse import unquote

    assert resolve(unquote(url)).kwargs == {"username": name}


@pytest.mark.parametrize("name", NASTY)
def test_every_page_works_and_links_to_exactly_that_person(name: str, manager: Client) -> None:
    iid = _ingest_everywhere(name)
    # A person with that very name acts in the dashboard, so the audit trail links them too.
    user = User.objects.create_user(name)
    user.groups.add(role("Admins"))
    running = uuid.uuid4()
    f.ingest([f.workflow_started(running, 0, workflow_name="running_flow")])
    actions.perform_action(action="pause", instance_id=running, user=user, reason="a pause")
    actions.perform_action(action="resume", instance_id=running, user=user, reason="")

    pages = {
        "instance": f"/workflows/{iid}/",
        "history": "/workflows/history/",
        "audit": "/workflows/history/audit/",
        "instances": "/workflows/",
        "history filtered": "/workflows/history/?" + urlencode({"person": name}),
    }
    links: set[str] = set()
    for what, url in pages.items():
        response = manager.get(url)
        assert response.status_code == 200, what
        links.update(_hrefs(response.content.decode(), PEOPLE))
    assert links == {reverse("workflows_ui:person_activity", args=[name])}

    person = manager.get(links.pop())
    assert person.status_code == 200
    page = person.content.decode()
    assert f"Activity of {html.escape(name)}" in page
    assert TITLE in page  # the task this person completed
    assert "a pause" in page  # this person's own action

    # "All actions in the audit trail": exactly this person's actions.
    (audit_link,) = [h for h in _hrefs(page, "/workflows/history/audit/") if "person=" in h]
    audit = manager.get(audit_link).content.decode()
    assert "a pause" in audit
    assert audit.count('class="kind-') == 2  # the pause and the resume, nobody else's

    for export in (
        "/workflows/export/tasks.csv?" + urlencode({"person": name}),
        "/workflows/export/events.csv?" + urlencode({"person": name}),
        "/workflows/export/instances.csv?" + urlencode({"initiator": name}),
    ):
        response = manager.get(export)
        assert response.status_code == 200, export
        body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        assert len(body.strip().splitlines()) >= 2, export


@pytest.mark.parametrize("name", ["svc/engine", "..", "José/ü?#%"])
def test_person_page_of_an_unknown_name_is_empty_not_an_error(name: str, manager: Client) -> None:
    response = manager.get(quote(reverse("workflows_ui:person_activity", args=[name]), safe="/%"))
    assert response.status_code == 200
    assert "None yet." in response.content.decode()
