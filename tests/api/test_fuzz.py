"""Schemathesis against the published OpenAPI document, through the WSGI app: every
operation with an ingest token, then every operation as a signed-in admin (session cookie
and CSRF token, as the API expects). No answer may be a 5xx, every answer's status must be
one the document lists, and its body must match the schema listed for it.

Bounded for the ``dev`` Hypothesis profile (tests/conftest.py): a few examples per
operation and phase; the ``ci`` profile runs more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import events as f
from workflows.models import (
    Event,
    HumanTask,
    IngestToken,
    OutboxCommand,
    StepRun,
    WorkflowInstance,
)

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = max(5, min(settings().max_examples, 50))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


# Loaded once, when the module is collected: fetching the document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def keep_the_test_connection(db: Any) -> Iterator[None]:
    """As Django's test client does, the WSGI handler must not close the connection after
    each request: it holds the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """An instance with an open task, so reads and actions have something to find."""
    iid, tid = f.new_id(), f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid, assignee="boss")])
    return {"instance_id": iid, "task_id": tid}


@pytest.fixture
def token_headers(world: dict[str, Any]) -> dict[str, str]:
    _, raw = IngestToken.issue("fuzz-engine")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def session(world: dict[str, Any]) -> dict[str, Any]:
    """A signed-in admin's cookies and the CSRF header SessionAuth checks on writes."""
    admin = User.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(admin)
    csrf = _get_new_csrf_string()
    session = client.cookies["sessionid"].value
    return {"cookies": {"sessionid": session, "csrftoken": csrf}, "headers": {"X-CSRFToken": csrf}}


@pytest.fixture
def session_client(world: dict[str, Any]) -> Client:
    """The admin "boss" (superuser) signed in, and a team "team" with them in it."""
    from django.contrib.auth.models import Group

    admin = User.objects.create_superuser("boss", password="pw")
    admin.groups.add(Group.objects.create(name="team"))
    User.objects.create_user("boss2")
    client = Client()
    client.force_login(admin)
    return client


@schema.parametrize()
@BOUNDED
def test_api_with_an_ingest_token(case: Any, token_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=token_headers, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_api_with_a_signed_in_admin(case: Any, session: dict[str, Any]) -> None:
    case.call_and_validate(**session, checks=CHECKS)


# --- arbitrary JSON at POST /api/events and the action API ------------------------------------

# Any Unicode, lone surrogates and NUL included; integers far beyond a float (but within
# what Python prints, 4300 digits); floats with NaN and infinities (sent as their literals).
text = st.text(st.characters(codec=None, categories=None), max_size=12)
numbers = st.integers(min_value=-(10**500), max_value=10**500) | st.floats()
scalars = st.none() | st.booleans() | numbers | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


class Raw(str):
    """JSON text spliced into a body as it is: nesting deeper than json.dumps can write."""


@st.composite
def deep(draw: st.DrawFn) -> Raw:
    """A value nested 0 to 5000 levels deep, in arrays or objects."""
    levels = draw(st.integers(0, 5000))
    key = json.dumps(draw(text))
    kinds = draw(st.lists(st.booleans(), min_size=levels, max_size=levels))
    opening = "".join("[" if k else "{" + key + ":" for k in kinds)
    closing = "".join("]" if k else "}" for k in reversed(kinds))
    return Raw(opening + dump(draw(scalars)) + closing)


def dump(value: Any) -> str:
    """JSON text of a drawn value: surrogates as escapes, NaN and infinities as literals."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


anything = json_values | deep()
EVENT_TYPES = ["WorkflowStarted", "HumanTaskCreated", "StepCompleted", "WorkflowPaused"]


@st.composite
def events(draw: st.DrawFn) -> Any:
    """A plausible event with some fields replaced or added by anything at all."""
    iid, tid = f.new_id(), f.new_id()
    base = {
        "WorkflowStarted": f.workflow_started(iid, 0),
        "HumanTaskCreated": f.human_task_created(iid, 0, tid),
        "StepCompleted": f.step_completed(iid, 0),
        "WorkflowPaused": f.workflow_paused(iid, 0),
    }[draw(st.sampled_from(EVENT_TYPES))]
    if draw(st.booleans()):
        base["event_id"] = f.new_id()
    fields = st.sampled_from([*base, "form_schema", "initial_data", "result", "extra"]) | text
    overrides = draw(st.dictionaries(fields, anything, max_size=3))
    return {**base, **overrides}


bodies = st.one_of(
    events(),
    st.lists(events(), max_size=4),
    st.builds(lambda e: {"events": e}, st.lists(events(), max_size=3)),
    anything,
)


def _stored() -> tuple[int, ...]:
    return (
        Event.objects.count(),
        WorkflowInstance.objects.count(),
        HumanTask.objects.count(),
        StepRun.objects.count(),
        OutboxCommand.objects.count(),
    )


def _send(client: Client, url: str, body: Any) -> Any:
    return client.post(url, dump(body), content_type="application/json")


@given(body=bodies)
@settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_json_at_ingest_is_all_or_nothing_never_a_5xx(api_client: Client, body: Any) -> None:
    before = _stored()
    response = _send(api_client, "/api/events", body)
    event(f"ingest answered {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    if response.status_code == 200:
        accepted = response.json()["accepted"]
        assert _stored()[0] == before[0] + accepted
    else:
        assert response.status_code in (400, 422), response.content[:300]
        assert _stored() == before, "a refused batch stored something"
        assert set(response.json()) <= {"errors", "more"}


ACTIONS = {
    "complete": st.fixed_dictionaries({}, optional={"form_data": anything, "comment": anything}),
    "reassign": st.fixed_dictionaries(
        {}, optional={"to_assignee": anything | st.just("boss2"), "reason": anything}
    ),
    "claim": anything,
}


@given(action=st.sampled_from(sorted(ACTIONS)), data=st.data())
@settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_json_at_the_action_api_is_all_or_nothing_never_a_5xx(
    action: str, data: st.DataObject, session_client: Client
) -> None:
    iid, tid = f.new_id(), f.new_id()
    assignee = "group:team" if action == "claim" else "boss"
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid, assignee=assignee)])
    body = data.draw(anything | ACTIONS[action] if action != "claim" else ACTIONS[action])
    before = _stored()
    response = _send(session_client, f"/api/tasks/{tid}/{action}", body)
    event(f"{action} answered {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    task = HumanTask.objects.get(task_id=tid)
    if response.status_code == 200:
        assert _stored()[0] == before[0] + 1 and _stored()[4] == before[4] + 1
        assert not task.is_open or task.assignee != assignee
        assert session_client.get(f"/tasks/{tid}/").status_code == 200
    else:
        assert response.status_code in (400, 422), response.content[:300]
        assert _stored() == before, "a refused action stored something"
        assert task.is_open and task.assignee == assignee
