"""Hostile query strings, path names, cursors and bodies never make a 500.

Run on SQLite and on PostgreSQL (``DATABASE_URL=postgres://...``): PostgreSQL cannot even
compare text holding NUL, SQLite cannot bind a date before year 1 in UTC. The API refuses
what it cannot use (ErrorsOut), pages ignore it, and a name in a path that no one can have
is a 404.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.security.test_authorization_matrix import (
    ACCESS,
    ACCESS_ADMIN_OWN,
    ROUTES,
    Access,
    Route,
    _client,
    _url,
    world,
)
from tests.support import events as f
from tests.support.asgi import chunked_post
from workflows.jsonvalues import text_problem
from workflows.models import HumanTask

__all__ = ["world"]  # the authorization matrix's fixture: its people, task and tokens

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
LONG = "x" * 10_000


@pytest.fixture
def admin_client(db: Any) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


# --- 1. NUL in a query string ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/tasks", "assignee"),
        ("/api/tasks", "status"),
        ("/api/instances", "status"),
        ("/api/instances", "workflow"),
    ],
)
def test_api_filter_with_nul_is_422_naming_it(admin_client: Client, path: str, param: str) -> None:
    response = admin_client.get(f"{path}?{param}=a%00b")
    assert response.status_code == 422, response.content[:300]
    assert response.json() == {
        "errors": [{"index": None, "field": param, "message": text_problem(NUL)}]
    }


def test_api_filter_with_nul_is_422_for_a_token_too(api_client: Client) -> None:
    # The read scope: the same filters, the same answer.
    from workflows.models import IngestToken

    _, reader = IngestToken.issue("reader", scopes=["read"])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {reader}").get("/api/instances?workflow=a%00")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "workflow"


def test_api_filter_with_encoded_surrogate_is_replaced_not_refused(admin_client: Client) -> None:
    # The UTF-8 bytes of a lone surrogate are invalid UTF-8: Django decodes them as U+FFFD,
    # so no surrogate reaches a filter (text_problem would refuse one if it did).
    response = admin_client.get("/api/tasks?assignee=%ED%A0%80")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_pages_ignore_a_filter_with_nul(admin_client: Client) -> None:
    iid, tid = f.new_id(), f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid, assignee="root")])
    response = admin_client.get("/assignees/?to_assignee=ro%00ot")
    assert response.status_code == 200 and b"<option" not in response.content
    response = admin_client.get("/assignees/?to_assignee=ro")
    assert response.status_code == 200 and b'value="root"' in response.content
    response = admin_client.get("/workflows/reports/?workflow=expense%00approval")
    assert response.status_code == 200
    assert response.context["workflow"] == ""  # all workflows, as without the filter


@pytest.mark.parametrize(
    "name", ["a%00b", "a%2500b", "%00", "a%ED%A0%80b", "x" * 10_000], ids=lambda v: v[:12]
)
def test_person_page_for_a_name_no_one_can_have(admin_client: Client, name: str) -> None:
    response = admin_client.get(f"/workflows/history/people/{name}/")
    if "00" in name:
        assert response.status_code == 404
    else:  # invalid UTF-8 becomes U+FFFD, a name like any other; so is a long one
        assert response.status_code == 200


# --- 2. the action API takes JSON bodies only ------------------------------------------------


@pytest.fixture
def csrf_client(admin_client: Client) -> tuple[Client, str]:
    """A signed-in session that must pass the CSRF check, as a browser's would."""
    admin_client.handler.enforce_csrf_checks = True
    admin_client.get("/workflows/")  # sets the csrftoken cookie
    return admin_client, admin_client.cookies["csrftoken"].value


@pytest.fixture
def task(admin_client: Client) -> HumanTask:
    iid, tid = f.new_id(), f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid, assignee="root")])
    User.objects.create_user("other")
    return HumanTask.objects.get(task_id=tid)


BODIES = {
    "complete": {"comment": "done"},
    "reassign": {"to_assignee": "other", "reason": "yours"},
    "claim": {},
    "release": {},
}


@pytest.mark.parametrize("action", list(BODIES))
@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml",
    ],
)
def test_action_api_refuses_a_body_that_is_not_json_with_415(
    csrf_client: tuple[Client, str], task: HumanTask, action: str, content_type: str
) -> None:
    client, token = csrf_client
    body = json.dumps(BODIES[action]) if "json" in content_type else "--x\r\n\r\n--x--\r\n"
    response = client.post(
        f"/api/tasks/{task.task_id}/{action}",
        body,
        content_type=content_type,
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 415, response.content[:300]
    (error,) = response.json()["errors"]
    assert "application/json" in error["message"]
    task.refresh_from_db()
    assert task.is_open and task.assignee == "root"


@pytest.mark.parametrize("action", ["complete", "reassign"])
def test_action_api_refuses_a_body_over_the_limit_with_413(
    csrf_client: tuple[Client, str], task: HumanTask, action: str, settings: Any
) -> None:
    client, token = csrf_client
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({**BODIES[action], "comment": "c" * 2000})
    url = f"/api/tasks/{task.task_id}/{action}"
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        response = client.post(url, body, content_type=content_type, HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 413, response.content[:300]
        assert "limit is 1000" in response.json()["errors"][0]["message"]
    task.refresh_from_db()
    assert task.is_open


@pytest.mark.django_db(transaction=True)
def test_action_api_chunked_body_over_the_limit_is_413(task: HumanTask, settings: Any) -> None:
    # No Content-Length to refuse it by: Django measures the body as it reads it.
    client = Client()
    client.force_login(User.objects.get(username="root"))
    client.get("/workflows/")
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"comment": "c" * 2000}).encode()
    path = f"/api/tasks/{task.task_id}/complete"
    headers = [
        (b"content-type", b"application/json"),
        (b"cookie", cookies.encode()),
        (b"x-csrftoken", client.cookies["csrftoken"].value.encode()),
    ]
    status, _, content = chunked_post(path, headers, [body[:500], body[500:]])
    assert status == 413, content[:300]
    assert json.loads(content)["errors"][0]["message"] == "the body is over the limit of 1000 bytes"
    task.refresh_from_db()
    assert task.is_open


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"comment": "\xed\xa0\x80"}'])
def test_action_api_bad_json_is_400(
    csrf_client: tuple[Client, str], task: HumanTask, body: bytes
) -> None:
    client, token = csrf_client
    response = client.post(
        f"/api/tasks/{task.task_id}/complete",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 400, response.content[:300]
    assert "not valid JSON" in response.json()["errors"][0]["message"]


def test_action_api_json_and_no_body_still_work(
    csrf_client: tuple[Client, str], task: HumanTask
) -> None:
    client, token = csrf_client
    url = f"/api/tasks/{task.task_id}"
    # claim and release need no body: a POST with neither body nor Content-Type passes.
    response = client.generic("POST", f"{url}/release", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 422, response.content[:300]  # past auth, to the action
    assert "did not come from a team queue" in response.json()["errors"][0]["message"]
    response = client.post(
        f"{url}/reassign",
        BODIES["reassign"],
        content_type="application/json; charset=utf-8",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content[:300]
    assert response.json()["assignee"] == "other"


# --- 3. a cursor that cannot be used -----------------------------------------------------------


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+05:00|1",
        "9999-12-31T23:59:59-05:00|1",
        "9999-12-31T23:59:59.999999+00:00|" + "9" * 30,
        "2026-01-01T00:00:00+00:00|-1",
        "\x00|1",
        "garbage",
    ],
)
@pytest.mark.parametrize("sort", ["-started", "started", "-activity"])
def test_an_unusable_instance_cursor_shows_the_first_page(
    admin_client: Client, raw: str, sort: str
) -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, 0)])
    response = admin_client.get(f"/workflows/?sort={sort}&cursor={_cursor(raw)}")
    assert response.status_code == 200
    assert response.context["page"].is_first
    assert str(iid) in response.content.decode()


@pytest.mark.parametrize("raw", ["nan|1", "inf|1", "-1e400|1", "1.0|" + "9" * 30])
@pytest.mark.parametrize("sort", ["-duration", "duration"])
def test_an_unusable_duration_cursor_shows_the_first_page(
    admin_client: Client, raw: str, sort: str
) -> None:
    f.ingest([f.workflow_started(f.new_id(), 0)])
    response = admin_client.get(f"/workflows/?sort={sort}&cursor={_cursor(raw)}")
    assert response.status_code == 200
    assert response.context["page"].is_first


def test_a_valid_cursor_at_the_ends_of_time_still_pages(admin_client: Client) -> None:
    first, last = f.new_id(), f.new_id()
    f.ingest(
        [
            f.workflow_started(first, "0001-01-01T00:00:00Z"),
            f.workflow_started(last, "9999-12-31T23:59:59.999999Z"),
        ]
    )
    from workflows.models import WorkflowInstance

    newest = WorkflowInstance.objects.get(instance_id=last)
    cursor = _cursor(f"{newest.started_at.isoformat()}|{newest.pk}")
    response = admin_client.get(f"/workflows/?cursor={cursor}")
    assert response.status_code == 200 and not response.context["page"].is_first
    page = response.content.decode()
    assert str(first) in page and str(last) not in page


# --- the sweep: every GET URL, common parameters, hostile values -------------------------------

# What the views read from a query string (and a few they do not), sent all at once; each
# on its own too when the answer to all is not a 200, which may have stopped at the first
# (a 422 naming one, Django's admin redirecting for an unknown one before it searches).
PARAMS = [
    "q",
    "to_assignee",
    "assignee",
    "status",
    "workflow",
    "step",
    "person",
    "group",
    "sort",
    "page",
    "cursor",
    "date_from",
    "date_to",
    "started_from",
    "started_to",
    "due",
    "due_before",
    "due_after",
    "kind",
    "scope",
    "version",
    "tenant",
    "initiator",
    "type",
    "instance",
    "instance_id",
    "limit",
    "offset",
    "next",
    "e",
    "o",
    "p",
]
# As sent, percent-encoded; %ED%A0%80 is a lone surrogate's UTF-8 bytes (invalid UTF-8).
VALUES = {"nul": "a%00b", "long": LONG, "bad-utf8": "%ED%A0%80"}


def _query(params: list[str], value: str) -> str:
    return "&".join(f"{p}={value}" for p in params)


def _get_routes() -> list[Any]:
    cases = []
    for route in ROUTES:
        access: Access | None
        if route.route.startswith("admin/"):
            access = ACCESS_ADMIN_OWN.get(route.key, Access({}))
        else:
            access = ACCESS.get(route.key)
        if access is not None and "GET" in access.methods:
            cases.append(pytest.param(route, id=route.route))
    return cases


@pytest.mark.parametrize("route", _get_routes())
def test_no_query_string_makes_a_5xx(world: dict[str, Any], route: Route) -> None:
    url = _url(route, world)
    # An admin and an assignee; the read token where tokens go (the JSON API).
    roles = ["admin", "assignee", *(["reader"] if route.route.startswith("api/") else [])]
    for role in roles:
        client = _client(role, world)
        for name, value in VALUES.items():
            sets = [PARAMS]
            while sets:
                params = sets.pop()
                response = client.get(f"{url}?{_query(params, value)}")
                assert response.status_code < 500, (
                    f"{role} GET {url} {name} {params if len(params) == 1 else 'all'}: "
                    f"{response.status_code} {response.content[:300]!r}"
                )
                if len(params) > 1 and response.status_code != 200:
                    sets = [[p] for p in params]
