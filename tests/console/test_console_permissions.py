"""Who sees and does what in the console: admin, manager, assignee, anonymous."""

from __future__ import annotations

import uuid

import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from demo.users import demo_password, ensure_demo_users
from tests.support import events as b
from workflows.models import WorkflowInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def data() -> dict[str, uuid.UUID]:
    ensure_demo_users()
    iid, tid = b.waiting_instance(assignee="alice")
    return {"iid": iid, "tid": tid}


def client_for(username: str | None) -> Client:
    client = Client()
    if username:
        signed_in = client.login(
            request=HttpRequest(), username=username, password=demo_password(username)
        )
        assert signed_in
    return client


def read_pages(iid: uuid.UUID) -> list[str]:
    return [
        reverse("workflows_ui:instances"),
        reverse("workflows_ui:instance_detail", args=[iid]),
        reverse("workflows_ui:history"),
        reverse("workflows_ui:audit"),
        reverse("workflows_ui:person_activity", args=["alice"]),
        reverse("workflows_ui:reports"),
        reverse("workflows_ui:export_instances"),
        reverse("workflows_ui:export_tasks"),
        reverse("workflows_ui:export_events"),
    ]


def admin_pages(iid: uuid.UUID) -> list[str]:
    return [
        reverse("workflows_ui:unrouted"),
        reverse("workflows_ui:instance_action", args=[iid, "cancel"]),
        reverse("workflows_ui:instance_action", args=[iid, "pause"]),
        reverse("workflows_ui:instance_action", args=[iid, "resume"]),
    ]


@pytest.mark.parametrize(
    ("username", "read", "act"),
    [("admin", 200, 200), ("erin", 200, 404), ("alice", 404, 404), ("bob", 404, 404)],
)
def test_page_matrix(data, username: str, read: int, act: int) -> None:
    client = client_for(username)
    for url in read_pages(data["iid"]):
        assert client.get(url).status_code == read, url
    for url in admin_pages(data["iid"]):
        assert client.get(url).status_code == act, url


def test_anonymous_is_sent_to_login_everywhere(data) -> None:
    client = client_for(None)
    urls = [
        *read_pages(data["iid"]),
        *admin_pages(data["iid"]),
        reverse("workflows_ui:bulk_cancel"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    post = client.post(
        reverse("workflows_ui:instance_action", args=[data["iid"], "cancel"]), {"reason": "x"}
    )
    assert post.status_code == 302
    assert WorkflowInstance.objects.get(instance_id=data["iid"]).status == "waiting"


@pytest.mark.parametrize("username", ["erin", "alice"])
@pytest.mark.parametrize("action", ["cancel", "pause"])
def test_only_admins_may_act(data, username: str, action: str) -> None:
    client = client_for(username)
    url = reverse("workflows_ui:instance_action", args=[data["iid"], action])
    assert client.post(url, {"reason": "because"}).status_code == 404
    bulk = client.post(
        reverse("workflows_ui:bulk_cancel"),
        {"instance": [str(data["iid"])], "reason": "x", "confirm": "yes"},
    )
    assert bulk.status_code == 404
    assert WorkflowInstance.objects.get(instance_id=data["iid"]).status == "waiting"


def test_admin_may_act(data) -> None:
    client = client_for("admin")
    url = reverse("workflows_ui:instance_action", args=[data["iid"], "pause"])
    response = client.post(url, {"reason": "hold on"})
    assert response.status_code == 302
    assert WorkflowInstance.objects.get(instance_id=data["iid"]).status == "paused"


def test_nav_links_follow_permissions(data) -> None:
    admin = client_for("admin").get(reverse("workflows_ui:instances")).content.decode()
    assert 'href="/workflows/unrouted/"' in admin
    assert 'href="/workflows/reports/"' in admin
    manager = client_for("erin").get(reverse("workflows_ui:instances")).content.decode()
    assert 'href="/workflows/unrouted/"' not in manager
    assert 'href="/workflows/history/"' in manager
    assert "Cancel selected" not in manager
    assert "Cancel selected" in admin


def test_unknown_instance_is_404_for_admin(data) -> None:
    client = client_for("admin")
    url = reverse("workflows_ui:instance_detail", args=[uuid.uuid4()])
    assert client.get(url).status_code == 404
