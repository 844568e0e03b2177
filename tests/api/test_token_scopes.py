"""Ingest token scopes over every API route (hardening, item 11).

The routes come from the ninja router itself, so a new route fails here until it is given
its row in REQUIRED: which scope a token needs for it, or None when only a signed-in person
may call it.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern
from django.utils import timezone

from api.routes import api
from tests.support import events as f
from workflows.models import IngestToken

pytestmark = pytest.mark.django_db

WRITE, READ = "events:write", "read"
REQUIRED: dict[str, str | None] = {
    "post_events": WRITE,
    "list_tasks": READ,
    "list_instances": READ,
    "get_instance": READ,
    "complete": None,
    "reassign": None,
    "claim": None,
    "release": None,
}
SCOPE_SETS = [[WRITE], [READ], [WRITE, READ]]


def _routes() -> list[tuple[str, str, str]]:
    """(view name, method, path) of every operation behind the API's URL patterns."""
    patterns: list[URLPattern] = api.urls[0]  # type: ignore[assignment]
    named = {p.name for p in patterns} - {"openapi-json", "openapi-view", "api-root"}
    routes = []
    for _, router in api._routers:
        for path, view in router.path_operations.items():
            for op in view.operations:
                for method in op.methods:
                    url = "/api" + re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
                    routes.append((op.view_func.__name__, method, url))
    assert {name for name, _, _ in routes} == named, "a URL pattern without an operation"
    return routes


ROUTES = _routes()


def test_every_route_has_its_scope_decided() -> None:
    assert {name for name, _, _ in ROUTES} == set(REQUIRED)


def call(token: str | None, method: str, url: str) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    client = Client(**headers)
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, b"[]", content_type="application/json")


@pytest.mark.parametrize("scopes", SCOPE_SETS, ids=lambda s: "+".join(s))
@pytest.mark.parametrize(("name", "method", "url"), ROUTES, ids=[r[0] for r in ROUTES])
def test_scope_matrix(name: str, method: str, url: str, scopes: list[str]) -> None:
    _, raw = IngestToken.issue("engine", scopes=scopes)
    response = call(raw, method, url)
    needed = REQUIRED[name]
    if needed is None:  # a person's action: no token opens it, whatever its scopes
        assert response.status_code == 401, response.content
    elif needed in scopes:
        assert response.status_code not in (401, 403), response.content
    else:
        assert response.status_code == 403, response.content
        assert response["Content-Type"] == "application/json"
        (error,) = response.json()["errors"]
        assert error["field"] == "Authorization"
        assert f"lacks the scope '{needed}'" in error["message"]
        assert "'engine'" in error["message"]


@pytest.mark.parametrize(("name", "method", "url"), ROUTES, ids=[r[0] for r in ROUTES])
def test_a_revoked_token_is_refused_everywhere(name: str, method: str, url: str) -> None:
    token, raw = IngestToken.issue("engine", scopes=[WRITE, READ])
    assert call(raw, method, url).status_code != 401 or REQUIRED[name] is None
    token.revoked = True
    token.save()
    response = call(raw, method, url)
    assert response.status_code == 401
    assert "unknown, revoked or malformed" in response.json()["errors"][0]["message"]


def test_a_write_only_token_sends_events_and_reads_nothing() -> None:
    _, raw = IngestToken.issue("engine")  # the default: events:write only
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    event = f.workflow_started(f.new_id())
    posted = client.post("/api/events", event, content_type="application/json")
    assert posted.status_code == 200, posted.content
    assert posted.json()["accepted"] == 1
    refused = client.get("/api/instances")
    assert refused.status_code == 403
    assert 'scope="read"' in refused["WWW-Authenticate"]


def test_last_used_at_is_recorded_at_most_once_a_minute() -> None:
    token, raw = IngestToken.issue("engine", scopes=[READ])
    assert token.last_used_at is None
    call(raw, "GET", "/api/tasks")
    first = IngestToken.objects.get(pk=token.pk).last_used_at
    assert first is not None
    call(raw, "GET", "/api/tasks")
    assert IngestToken.objects.get(pk=token.pk).last_used_at == first  # within the minute
    IngestToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    call(raw, "GET", "/api/tasks")
    later = IngestToken.objects.get(pk=token.pk).last_used_at
    assert later is not None and later > first - timedelta(seconds=1)
    assert timezone.now() - later < timedelta(seconds=30)


def test_a_token_without_the_scope_still_counts_as_used() -> None:
    token, raw = IngestToken.issue("engine", scopes=[WRITE])
    assert call(raw, "GET", "/api/tasks").status_code == 403
    assert IngestToken.objects.get(pk=token.pk).last_used_at is not None


def test_issue_refuses_unknown_or_no_scopes() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unknown scope"):
        IngestToken.issue("engine", scopes=["admin"])
    with pytest.raises(ValidationError, match="at least one scope"):
        IngestToken.issue("engine", scopes=[])
    assert not IngestToken.objects.exists()
