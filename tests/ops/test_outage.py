"""The database away: 503 with Retry-After on the API and on pages (config/outage.py), never a
500, and nothing stored. The real restart of a PostgreSQL server is tests/faults/."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import InterfaceError, OperationalError, ProgrammingError
from django.test import Client

from api.routes import UNAVAILABLE
from tests.support.events import new_id, workflow_started
from workflows.models import Event, WorkflowInstance

GONE = OperationalError("server closed the connection unexpectedly")


def body_of(events: list[dict]) -> str:
    return json.dumps(events)


@pytest.mark.django_db
@pytest.mark.parametrize("error", [GONE, InterfaceError("connection already closed")])
def test_ingest_answers_503_with_retry_after_and_stores_nothing(
    api_client: Client, error: Exception
) -> None:
    event = workflow_started(new_id())
    with mock.patch("workflows.group_commit.ingest_events", side_effect=error):
        response = api_client.post("/api/events", body_of([event]), content_type="application/json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "errors": [{"index": None, "field": "", "message": f"{UNAVAILABLE} in 5 seconds"}]
    }
    assert not Event.objects.exists()
    # Back: the same batch goes in.
    again = api_client.post("/api/events", body_of([event]), content_type="application/json")
    assert again.status_code in (200, 201), again.content
    assert WorkflowInstance.objects.count() == 1


@pytest.mark.django_db
def test_a_failure_halfway_through_a_batch_leaves_nothing_half_written(
    api_client: Client,
) -> None:
    """The outage strikes after the events were written, while the projections are folded:
    the transaction rolls back, log and projections alike."""
    events = [workflow_started(new_id()), workflow_started(new_id())]
    with mock.patch("workflows.ingest.refold", side_effect=GONE):
        response = api_client.post("/api/events", body_of(events), content_type="application/json")
    assert response.status_code == 503
    assert not Event.objects.exists()
    assert not WorkflowInstance.objects.exists()


@pytest.mark.django_db
def test_a_page_answers_the_styled_503_when_its_view_cannot_reach_the_database() -> None:
    user = User.objects.create_user("ann", password="pw-outage-2026")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with (
        mock.patch("inbox.views.selectors.next_task", side_effect=GONE),
        mock.patch("inbox.views.Paginator", side_effect=GONE),
    ):
        response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    html = response.content.decode()
    assert "Temporarily unavailable" in html
    assert "nothing you sent was saved" in html
    assert "css/app.css" in html  # styled, with the site's stylesheet


@pytest.mark.django_db
def test_a_failure_in_middleware_is_a_503_too() -> None:
    """The session and the person's preferences are read before any view runs."""
    user = User.objects.create_user("ann", password="pw-outage-2026")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with mock.patch("pages.zones.Preferences.objects.filter", side_effect=GONE):
        response = client.get("/")
    assert response.status_code == 503
    assert b"Temporarily unavailable" in response.content


@pytest.mark.django_db
def test_an_api_failure_outside_the_view_is_a_json_503() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=GONE):
        client.cookies["sessionid"] = "x" * 32
        response = client.get("/api/tasks")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["message"] == f"{UNAVAILABLE} in 5 seconds"


@pytest.mark.django_db
def test_a_programming_error_stays_a_500(api_client: Client) -> None:
    client = Client(raise_request_exception=False)
    user = User.objects.create_user("ann", password="pw-outage-2026")
    client.force_login(user)
    with mock.patch("inbox.views.Paginator", side_effect=ProgrammingError("no such column")):
        page = client.get("/")
    assert page.status_code == 500
    assert "Retry-After" not in page
    api = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=api_client.defaults["HTTP_AUTHORIZATION"]
    )
    with mock.patch(
        "workflows.group_commit.ingest_events", side_effect=ProgrammingError("no such column")
    ):
        response = api.post("/api/events", "[]", content_type="application/json")
    assert response.status_code == 500
    assert response.json() == {
        "errors": [{"index": None, "field": "", "message": "internal server error"}]
    }


def sqlite_error(message: str) -> OperationalError:
    """Django's OperationalError as it wraps SQLite's (``raise ... from``)."""
    import sqlite3

    try:
        raise OperationalError(message) from sqlite3.OperationalError(message)
    except OperationalError as exc:
        return exc


def test_on_sqlite_only_the_lock_and_the_file_are_an_outage() -> None:
    from workflows.outages import is_outage

    assert is_outage(sqlite_error("database is locked"))
    assert is_outage(sqlite_error("unable to open database file"))
    assert not is_outage(sqlite_error("no such table: workflows_event"))
    assert not is_outage(sqlite_error('near "SELEC": syntax error'))
    assert is_outage(GONE)  # PostgreSQL's (psycopg's) connection errors
    assert is_outage(InterfaceError("connection already closed"))
    assert not is_outage(ProgrammingError("no such column"))


@pytest.mark.django_db
def test_a_missed_migration_on_sqlite_is_a_500_not_a_retry(api_client: Client) -> None:
    api = Client(
        raise_request_exception=False,
        HTTP_AUTHORIZATION=api_client.defaults["HTTP_AUTHORIZATION"],
    )
    missing = sqlite_error("no such table: workflows_event")
    with mock.patch("workflows.group_commit.ingest_events", side_effect=missing):
        response = api.post("/api/events", "[]", content_type="application/json")
    assert response.status_code == 500
    assert "Retry-After" not in response
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_user("ann", password="pw-outage-2026"))
    with mock.patch("inbox.views.Paginator", side_effect=missing):
        page = client.get("/")
    assert page.status_code == 500
