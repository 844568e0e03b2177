"""Migration 0004 repairs events that SQLite stored with a lone surrogate before ingest
refused them: the pages that showed them answered 500 for good."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from demo.users import ensure_demo_users
from tests.support import events as b
from workflows.models import Event, WorkflowInstance

pytestmark = pytest.mark.django_db

repair_migration = importlib.import_module("workflows.migrations.0004_repair_lone_surrogates")


class _Editor:
    connection = connection


def _store_raw(instance_id: Any) -> None:
    """Put "\\ud800" into the stored log and rows, as the old ingest let SQLite keep it."""
    event = Event.objects.get(instance_id=instance_id, type="WorkflowStarted")
    bad = json.dumps(event.payload).replace("EXP-1", "EXP-\\ud800")
    assert bad != json.dumps(event.payload)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE inbox_event SET payload = %s WHERE seq = %s", [bad, event.seq])
        cursor.execute(
            "UPDATE workflows_ui_workflowinstance SET initial_data = %s WHERE instance_id = %s",
            [json.dumps({"key": "EXP-\\ud800"}), instance_id.hex],
        )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite ever stored them")
def test_lone_surrogates_are_replaced_and_the_pages_work_again() -> None:
    ensure_demo_users()
    iid, _ = b.waiting_instance(initial_data={"key": "EXP-1"})
    other, _ = b.waiting_instance(initial_data={"key": "\U0001f600 fine"})
    _store_raw(iid)
    admin = Client()
    admin.force_login(User.objects.get(username="admin"))
    page = f"/workflows/{iid}/"
    export = "/workflows/export/events.csv?scope=all"
    with pytest.raises(UnicodeEncodeError):  # what the old data did to the export
        b"".join(admin.get(export).streaming_content)  # type: ignore[attr-defined]

    repair_migration.repair(apps, _Editor())

    started = Event.objects.get(instance_id=iid, type="WorkflowStarted")
    assert started.payload["initial_data"] == {"key": "EXP-\ufffd"}
    assert WorkflowInstance.objects.get(instance_id=iid).initial_data == {"key": "EXP-\ufffd"}
    response = admin.get(page)
    assert response.status_code == 200
    assert "EXP-\ufffd" in response.content.decode()
    # Valid text, an emoji's surrogate pair included, is left alone.
    untouched = WorkflowInstance.objects.get(instance_id=other)
    assert untouched.initial_data == {"key": "\U0001f600 fine"}
    body = b"".join(admin.get(export).streaming_content)  # type: ignore[attr-defined]
    assert "EXP-\ufffd" in body.decode()
