"""Every model is in the Django admin, and the event log there is read-only."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from tests.support import events as f
from workflows.models import Event


def test_every_project_model_is_registered() -> None:
    for app in ("workflows",):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), model.__name__


@pytest.mark.django_db
def test_the_event_log_is_read_only_in_the_admin() -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, 0)])
    superuser = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(superuser)
    assert client.get("/admin/workflows/event/").status_code == 200
    assert client.get("/admin/workflows/event/add/").status_code == 403
    # The stored row's own key: sequences do not restart between tests on PostgreSQL.
    event_url = f"/admin/workflows/event/{Event.objects.get().pk}/change/"
    page = client.get(event_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    for model in ("workflowinstance", "steprun"):
        assert client.get(f"/admin/workflows/{model}/").status_code == 200


@pytest.mark.django_db
def test_the_token_admin_shows_scopes_and_last_use_and_revokes() -> None:
    from datetime import UTC, datetime

    from workflows.models import IngestToken

    engine, _ = IngestToken.issue("engine")
    reporting, _ = IngestToken.issue("reporting", scopes=["events:write", "read"])
    used = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    IngestToken.objects.filter(pk=engine.pk).update(last_used_at=used)
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))

    page = client.get("/admin/workflows/ingesttoken/").content.decode()
    assert "<th" in page and "scopes" in page.lower()
    assert "events:write read" in page  # reporting's scopes
    assert "Nov. 25, 2026, 9:30 a.m." in page  # engine's last use
    assert client.get("/admin/workflows/ingesttoken/add/").status_code == 403

    # Scopes are changed with checkboxes; an unknown one is refused.
    url = f"/admin/workflows/ingesttoken/{engine.pk}/change/"
    form = {"name": "engine", "scopes": ["read"]}
    assert client.post(url, form).status_code == 302
    assert IngestToken.objects.get(pk=engine.pk).scopes == ["read"]
    refused = client.post(url, {"name": "engine", "scopes": ["admin"]})
    assert refused.status_code == 200 and "not one of the available choices" in (
        refused.content.decode()
    )
    assert IngestToken.objects.get(pk=engine.pk).scopes == ["read"]

    response = client.post(
        "/admin/workflows/ingesttoken/",
        {"action": "revoke", "_selected_action": [str(reporting.pk)]},
    )
    assert response.status_code == 302
    assert IngestToken.objects.get(pk=reporting.pk).revoked
    assert not IngestToken.objects.get(pk=engine.pk).revoked
