"""Schemathesis against the published OpenAPI document, through the WSGI app: every
operation with an ingest token, then every operation as a signed-in admin (session cookie
and CSRF token, as the API expects). No answer may be a 5xx, every answer's status must be
one the document lists, and its body must match the schema listed for it.

Bounded for the ``dev`` Hypothesis profile (tests/conftest.py): a few examples per
operation and phase; the ``ci`` profile runs more.
"""

from __future__ import annotations

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
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import events as f
from workflows.models import IngestToken

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


@schema.parametrize()
@BOUNDED
def test_api_with_an_ingest_token(case: Any, token_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=token_headers, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_api_with_a_signed_in_admin(case: Any, session: dict[str, Any]) -> None:
    case.call_and_validate(**session, checks=CHECKS)
