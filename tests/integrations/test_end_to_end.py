"""The loop closed with litestar-workflows' real engine: an engine app served on 127.0.0.1
sends its events to a live dashboard; a person completes the task in the dashboard; the
signed command reaches the engine, whose instance moves past the human step and finishes.
Cancel from the dashboard cancels the engine's instance; a redelivered command changes
nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from django.contrib.auth.models import Group, User
from django.test import Client

from examples.litestar_approval import create_app
from tests.support.inbox_world import role
from tests.support.server import free_port
from workflows import actions, outbox
from workflows.models import Event, HumanTask, IngestToken, OutboxCommand, WorkflowInstance

SECRET = "e2e-webhook-secret"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def engine_url(live_server: Any, transactional_db: None) -> Iterator[str]:
    """The example engine app under uvicorn in a thread, sending to the live dashboard."""
    _, token = IngestToken.issue("litestar-e2e")
    port = free_port()
    app = create_app(live_server.url, token, SECRET)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: server.started, "the engine app to start")
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def webhook(settings: Any, engine_url: str) -> str:
    settings.OUTBOX_BACKEND = "webhook"
    settings.OUTBOX_WEBHOOK_URL = f"{engine_url}/dashboard/commands"
    settings.OUTBOX_WEBHOOK_SECRET = SECRET
    return engine_url


def _engine(engine_url: str, instance_id: str) -> dict[str, Any]:
    return httpx.get(f"{engine_url}/expenses/{instance_id}", timeout=5).json()


def _start(engine_url: str, **data: Any) -> str:
    answer = httpx.post(f"{engine_url}/expenses", json=data, timeout=5)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["instance_id"])


@pytest.mark.django_db(transaction=True)
def test_a_task_completed_in_the_dashboard_finishes_the_engines_workflow(webhook: str) -> None:
    finance = Group.objects.create(name="finance")
    alice = User.objects.create_user("alice", password="pw")
    alice.groups.add(finance)
    iid = _start(webhook, amount=420, requester="dave", business_key="EXP-2026-4916")

    task = wait_for(
        lambda: HumanTask.objects.filter(instance__instance_id=iid, status="open").first(),
        "the engine's human task in the dashboard",
    )
    assert task.title and task.form_schema and task.assignee_group == finance
    client = Client()
    client.force_login(alice)
    queue = client.get("/queues/").content.decode()
    assert task.title in queue

    page = client.get(f"/tasks/{task.task_id}/").content.decode()
    assert "EXP-2026-4916" in page or "4916" in page  # the workflow's initial data
    done = client.post(
        f"/tasks/{task.task_id}/complete/",
        {"f_approved": "on", "comment": "Within budget"},
    )
    assert done.status_code in (200, 302), done.content.decode()[:500]

    engine_view = wait_for(
        lambda: (v := _engine(webhook, iid))["status"].lower().endswith("completed") and v,
        "the engine's instance to finish",
    )
    assert engine_view["data"]["approved"] is True
    command = wait_for(
        lambda: OutboxCommand.objects.filter(
            event__task_id=task.task_id, delivered_at__isnull=False
        ).first(),
        "the command to be recorded as delivered",
    )
    instance = wait_for(
        lambda: WorkflowInstance.objects.filter(instance_id=iid, status="completed").first(),
        "the dashboard to show the instance completed",
    )
    steps = list(instance.steps.values_list("step_name", flat=True))
    assert len(steps) >= 2  # the step before the human task and the one after it
    timeline = set(Event.objects.filter(instance_id=iid).values_list("type", flat=True))
    assert {"WorkflowStarted", "HumanTaskCreated", "HumanTaskCompleted", "WorkflowCompleted"} <= (
        timeline
    )

    # Delivered again (as after a lost acknowledgement): the engine drops it by its id.
    before = _engine(webhook, iid)
    OutboxCommand.objects.filter(pk=command.pk).update(status="pending", delivered_at=None)
    assert outbox.deliver_due() == 1
    command.refresh_from_db()
    assert command.delivered_at is not None
    assert _engine(webhook, iid) == before


@pytest.mark.django_db(transaction=True)
def test_cancel_in_the_dashboard_cancels_the_engines_instance(webhook: str) -> None:
    admin = User.objects.create_user("admin", password="pw")
    admin.groups.add(role("Admins"))
    iid = _start(webhook, amount=90, requester="dave")
    wait_for(
        lambda: WorkflowInstance.objects.filter(instance_id=iid, status="waiting").exists(),
        "the instance waiting at its human step",
    )
    actions.cancel_instance(instance_id=uuid.UUID(iid), user=admin, reason="Duplicate request")
    wait_for(
        lambda: _engine(webhook, iid)["status"].lower().endswith("canceled"),
        "the engine's instance to be canceled",
    )
    assert WorkflowInstance.objects.get(instance_id=iid).status == "canceled"
