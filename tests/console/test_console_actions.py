"""Cancel, pause and resume: state rules, recorded events, outbox, closed tasks, bulk cancel."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from demo.users import demo_password, ensure_demo_users
from tests.support import events as b
from workflows import actions
from workflows.models import Event, HumanTask, OutboxCommand, WorkflowInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    ensure_demo_users()
    return get_user_model().objects.get(username="admin")


def status(iid: uuid.UUID) -> str:
    return WorkflowInstance.objects.get(instance_id=iid).status


def running_instance() -> uuid.UUID:
    iid = uuid.uuid4()
    b.ingest([b.started(iid, 0), b.step_started(iid, 1, "validate")])
    return iid


def ended_instance(kind: str) -> uuid.UUID:
    iid, _ = b.waiting_instance()
    end = {
        "completed": b.completed(iid, 10),
        "failed": b.failed(iid, 10, error="boom"),
        "canceled": b.ev("WorkflowCanceled", iid, 10, reason="engine gave up"),
    }[kind]
    b.ingest([end])
    return iid


def test_cancel_from_waiting_records_event_outbox_and_closes_tasks(admin) -> None:
    iid, tid = b.waiting_instance(assignee="alice")
    assert status(iid) == "waiting"
    event = actions.cancel_instance(instance_id=iid, user=admin, reason="Request withdrawn")
    assert event.type == "WorkflowCanceled"
    assert event.source == "dashboard:admin"
    assert event.payload["canceled_by"] == "admin"
    assert event.payload["current_step"] == "approve"
    assert event.payload["reason"] == "Request withdrawn"
    assert OutboxCommand.objects.get(event=event).kind == "WorkflowCanceled"
    instance = WorkflowInstance.objects.get(instance_id=iid)
    assert (instance.status, instance.canceled_by) == ("canceled", "admin")
    task = HumanTask.objects.get(task_id=tid)
    assert task.status == "canceled"
    assert not HumanTask.objects.open().filter(assignee_user__username="alice").exists()


def test_pause_then_resume(admin) -> None:
    iid = running_instance()
    paused = actions.pause_instance(instance_id=iid, user=admin, reason="Awaiting data")
    assert paused.payload == {
        **paused.payload,
        "paused_at_step": "validate",
        "reason": "Awaiting data",
    }
    assert "paused_by" not in paused.payload  # not a contract field; the source names the actor
    instance = WorkflowInstance.objects.get(instance_id=iid)
    assert (instance.status, instance.paused_by) == ("paused", "admin")
    resumed = actions.resume_instance(instance_id=iid, user=admin)
    assert resumed.payload["resumed_by"] == "admin"
    assert resumed.payload["resuming_at_step"] == "validate"
    assert status(iid) == "running"
    assert OutboxCommand.objects.filter(instance_id=iid).count() == 2


def test_cancel_from_paused(admin) -> None:
    iid = running_instance()
    actions.pause_instance(instance_id=iid, user=admin)
    actions.cancel_instance(instance_id=iid, user=admin, reason="no longer needed")
    assert status(iid) == "canceled"


@pytest.mark.parametrize("kind", ["completed", "failed", "canceled"])
@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
def test_no_action_on_ended_instances(admin, kind: str, action: str) -> None:
    iid = ended_instance(kind)
    before = Event.objects.count()
    with pytest.raises(actions.ActionRefused) as exc:
        actions.perform_action(action=action, instance_id=iid, user=admin, reason="r")
    assert f"already ended ({kind})" in exc.value.message
    assert Event.objects.count() == before
    assert not OutboxCommand.objects.exists()
    assert status(iid) == kind


def test_resume_needs_paused_and_pause_needs_active(admin) -> None:
    iid = running_instance()
    with pytest.raises(actions.ActionRefused, match="Only a paused workflow can be resumed"):
        actions.resume_instance(instance_id=iid, user=admin)
    actions.pause_instance(instance_id=iid, user=admin)
    with pytest.raises(actions.ActionRefused, match="can be paused; this one is paused"):
        actions.pause_instance(instance_id=iid, user=admin)


def test_cancel_needs_a_reason(admin) -> None:
    iid = running_instance()
    with pytest.raises(actions.ActionRefused, match="reason"):
        actions.cancel_instance(instance_id=iid, user=admin, reason="   ")
    assert status(iid) == "running"


def test_service_refuses_users_without_permission() -> None:
    from django.core.exceptions import PermissionDenied

    ensure_demo_users()
    iid = running_instance()
    erin = get_user_model().objects.get(username="erin")
    with pytest.raises(PermissionDenied):
        actions.cancel_instance(instance_id=iid, user=erin, reason="x")


def test_action_sorts_after_events_from_a_fast_engine_clock(admin) -> None:
    # The engine's clock may run ahead; the pause must still fold after what the admin saw.
    from datetime import timedelta

    from django.utils import timezone

    iid = uuid.uuid4()
    future = timezone.now() + timedelta(hours=1)
    b.ingest([{**b.started(iid), "timestamp": future.isoformat()}])
    actions.pause_instance(instance_id=iid, user=admin)
    assert status(iid) == "paused"


# --- through the pages -------------------------------------------------------------------------


def admin_client() -> Client:
    client = Client()
    assert client.login(request=HttpRequest(), username="admin", password=demo_password("admin"))
    return client


def test_cancel_page_asks_then_cancels(admin) -> None:
    iid, _ = b.waiting_instance()
    client = admin_client()
    url = reverse("workflows_ui:instance_action", args=[iid, "cancel"])
    confirm = client.get(url)
    assert "Yes, cancel the workflow" in confirm.content.decode()
    assert status(iid) == "waiting"
    missing = client.post(url, {"reason": ""})
    assert missing.status_code == 200
    assert status(iid) == "waiting"
    done = client.post(url, {"reason": "Withdrawn"}, follow=True)
    assert "Workflow canceled." in done.content.decode()
    assert status(iid) == "canceled"


def test_action_on_ended_instance_says_why(admin) -> None:
    iid = ended_instance("completed")
    client = admin_client()
    url = reverse("workflows_ui:instance_action", args=[iid, "pause"])
    response = client.post(url, {"reason": "x"})
    assert response.status_code == 409
    assert "already ended (completed)" in response.content.decode()
    partial = client.post(url, {"reason": "x"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 409
    assert "<html" not in partial.content.decode()


def test_instance_page_offers_only_allowed_actions(admin) -> None:
    iid = running_instance()
    page = admin_client().get(reverse("workflows_ui:instance_detail", args=[iid])).content.decode()
    assert f"/workflows/{iid}/cancel/" in page
    assert f"/workflows/{iid}/pause/" in page
    assert f"/workflows/{iid}/resume/" not in page


def test_bulk_cancel_confirms_then_reports_each_row(admin) -> None:
    waiting, _ = b.waiting_instance()
    done = ended_instance("completed")
    unknown = uuid.uuid4()
    client = admin_client()
    ids = [str(waiting), str(done), str(unknown)]
    confirm = client.post(
        reverse("workflows_ui:bulk_cancel"), {"instance": ids, "reason": "cleanup"}
    )
    assert "Yes, cancel them" in confirm.content.decode()
    assert status(waiting) == "waiting"
    result = client.post(
        reverse("workflows_ui:bulk_cancel"),
        {"instance": ids, "reason": "cleanup", "confirm": "yes"},
    )
    html = result.content.decode()
    assert "1 of 3 canceled" in html
    assert "already ended (completed)" in html
    assert "No workflow instance has this id." in html
    assert status(waiting) == "canceled"
    assert status(done) == "completed"


def test_bulk_cancel_never_redirects_off_site(admin) -> None:
    client = admin_client()
    url = reverse("workflows_ui:bulk_cancel")
    away = client.post(url, {"reason": "", "next": "https://evil.example/phish"})
    assert away.status_code == 302
    assert away["Location"] == reverse("workflows_ui:instances")
    local = client.post(url, {"reason": "", "next": "/workflows/?status=failed"})
    assert local["Location"] == "/workflows/?status=failed"


@pytest.mark.parametrize("value", ["foo", "instances", "workflows_ui:instances", "evil.example"])
def test_bulk_cancel_reads_next_as_a_path_only(admin, value: str) -> None:
    response = admin_client().post(
        reverse("workflows_ui:bulk_cancel"), {"reason": "", "next": value}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows_ui:instances")


def test_bulk_cancel_reports_a_value_that_is_not_an_id_without_a_link(admin) -> None:
    waiting, _ = b.waiting_instance()
    response = admin_client().post(
        reverse("workflows_ui:bulk_cancel"),
        {"instance": ["not-a-uuid", str(waiting)], "reason": "cleanup", "confirm": "yes"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 of 2 canceled" in html
    assert "Not an instance id." in html
    assert "<code>not-a-uuid</code>" in html
    assert f'href="/workflows/{waiting}/"' in html
