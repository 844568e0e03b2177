"""Signing in lands by role: admins in the console, managers in History, everyone else in
My tasks; a ``next`` wins. An empty My tasks points where work may be."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest
from django.test import Client

from demo.users import demo_password, ensure_demo_users

pytestmark = pytest.mark.django_db


def sign_in(username: str, next_url: str = "") -> tuple[Client, str]:
    client = Client()
    data = {"username": username, "password": demo_password(username)}
    if next_url:
        data["next"] = next_url
    response = client.post("/accounts/login/", data, follow=True)
    return client, response.request["PATH_INFO"]


@pytest.mark.parametrize(
    ("username", "lands_on"),
    [("admin", "/workflows/"), ("erin", "/workflows/history/"), ("alice", "/")],
)
def test_signing_in_lands_by_role(username: str, lands_on: str) -> None:
    ensure_demo_users()
    _, path = sign_in(username)
    assert path == lands_on


def test_a_next_wins() -> None:
    ensure_demo_users()
    _, path = sign_in("admin", "/done/")
    assert path == "/done/"


def test_an_empty_inbox_points_where_work_may_be() -> None:
    ensure_demo_users()
    alice = Client()
    alice.login(request=HttpRequest(), username="alice", password=demo_password("alice"))
    html = alice.get("/").content.decode()
    assert "Look in your team queues" in html  # alice has teams
    assert "Go to the workflow instances" not in html
    User.objects.create_user("loner", password="x")
    loner = Client()
    loner.force_login(User.objects.get(username="loner"))
    html = loner.get("/").content.decode()
    assert "No open task is assigned to you." in html
    assert "Look in your team queues" not in html  # no team, no queue to look in
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))
    assert "Go to the workflow instances" in admin.get("/").content.decode()
