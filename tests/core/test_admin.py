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
