"""Errors within the site's layout: a plain reason and a way back, never Django's bare page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.views.defaults import server_error

from demo.users import ensure_demo_users
from tests.support import events as b

pytestmark = pytest.mark.django_db


def signed_in(username: str) -> Client:
    ensure_demo_users()
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def layout(html: str) -> None:
    assert 'href="/static/css/app.css"' in html
    assert 'rel="icon"' in html
    assert 'class="brand"' in html


@pytest.mark.parametrize("path", ["/no-such-page/", "/tasks/00000000-0000-0000-0000-000000000000/"])
def test_a_missing_page_is_the_sites_404_with_the_way_back(path: str) -> None:
    response = signed_in("alice").get(path)
    assert response.status_code == 404
    html = response.content.decode()
    layout(html)
    assert "There is nothing here for you" in html
    assert 'href="/"' in html and 'href="/queues/"' in html
    assert "Workflow instances" not in html  # not a console reader


def test_someone_elses_task_is_the_same_404() -> None:
    _, task_id = b.waiting_instance(assignee="bob", title="Bob's secret")
    response = signed_in("alice").get(f"/tasks/{task_id}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here for you" in html
    assert "Bob's secret" not in html


def test_a_console_reader_is_offered_the_console() -> None:
    html = signed_in("erin").get("/no-such-page/").content.decode()
    assert 'href="/workflows/"' in html


def test_a_stranger_is_offered_the_sign_in() -> None:
    response = Client().get("/workflows/history/nothing/here/")  # no URL pattern matches
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here for you" in html
    assert 'href="/accounts/login/"' in html
    assert 'href="/queues/"' not in html


def test_an_expired_form_is_explained(settings: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("carol-x", password="x"))
    response = client.post("/tasks/bulk/", {"action": "claim"})
    assert response.status_code == 403
    html = response.content.decode()
    layout(html)
    assert "This form could not be sent" in html
    assert "nothing was changed" in html


def test_the_500_page_stands_alone() -> None:
    # Rendered as Django renders it after an unhandled error: no request context at all.
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    layout(html)
    assert "Something went wrong on our side" in html


def test_the_favicon_is_served() -> None:
    response = Client().get("/static/favicon.svg")
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)  # type: ignore[attr-defined]
