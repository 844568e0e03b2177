"""The outbox delivers people's actions to the engine as docs/engines.md (section 2) says:
signed, retried with backoff, dead-lettered, in order per instance, never lost, never twice.

The receiver is a real HTTP server on 127.0.0.1 that checks signatures with the engine-side
adapter's own verifier (``integrations.litestar_workflows.DashboardCommands.verify``).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from integrations.litestar_workflows import DashboardCommands
from tests.support.inbox_world import PASSWORD, make_people, make_task
from tests.support.receiver import CommandReceiver
from tests.support.server import free_port
from workflows import actions, outbox
from workflows.models import OutboxCommand

SECRET = "test-webhook-secret"
Status = OutboxCommand.Status


@pytest.fixture
def webhook(settings: Any) -> Any:
    receiver = CommandReceiver(SECRET)
    settings.OUTBOX_BACKEND = "webhook"
    settings.OUTBOX_WEBHOOK_URL = receiver.url
    settings.OUTBOX_WEBHOOK_SECRET = SECRET
    settings.OUTBOX_MAX_ATTEMPTS = 10
    settings.OUTBOX_BACKOFF_BASE = 2
    settings.OUTBOX_BACKOFF_MAX = 600
    settings.OUTBOX_TIMEOUT = 2
    yield receiver
    receiver.close()


@pytest.fixture
def inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The after-commit attempt runs in the test's thread (and its transaction)."""
    monkeypatch.setattr(outbox, "_background", lambda fn: fn())


def make_due() -> None:
    """Let time pass: every scheduled retry is due now."""
    OutboxCommand.objects.filter(status=Status.FAILED).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def one() -> OutboxCommand:
    return OutboxCommand.objects.get()


def completed_task(people: Any, **kw: Any) -> OutboxCommand:
    task = make_task(assignee="alice", **kw)
    actions.complete_task(task=task, user=people.alice, form_data={"ok": True}, comment="fine")
    return OutboxCommand.objects.filter(task_id=task.task_id).latest("id")


# --- recording ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_action_records_its_kind_actor_and_task() -> None:
    people = make_people()
    done = completed_task(people)
    assert (done.action, done.actor, done.status) == ("complete", "alice", Status.PENDING)
    assert done.task_id and done.command_id and done.attempts == 0

    team = make_task(assignee="finance")
    actions.claim_task(task=team, user=people.bob)
    team.refresh_from_db()
    actions.release_task(task=team, user=people.bob)
    team.refresh_from_db()
    actions.reassign_task(task=team, user=people.alice, to_assignee="carol", reason="hr")
    kinds = list(OutboxCommand.objects.filter(task_id=team.task_id).values_list("action", "actor"))
    assert kinds == [("claim", "bob"), ("release", "bob"), ("reassign", "alice")]

    iid = team.instance_id
    actions.pause_instance(instance_id=iid, user=people.admin, reason="wait")
    actions.resume_instance(instance_id=iid, user=people.admin)
    actions.cancel_instance(instance_id=iid, user=people.admin, reason="dup")
    wf = OutboxCommand.objects.filter(instance_id=iid, task_id__isnull=True)
    assert list(wf.values_list("action", flat=True)) == ["pause", "resume", "cancel"]


@pytest.mark.django_db
def test_backend_none_sends_nothing_and_says_recorded(settings: Any) -> None:
    settings.OUTBOX_BACKEND = "none"
    command = completed_task(make_people())
    assert outbox.deliver_due() == 0
    command.refresh_from_db()
    assert command.status == Status.PENDING and command.attempts == 0
    assert outbox.command_state(command) == "Recorded; no engine is configured"


# --- the wire: body and signature ----------------------------------------------------------


@pytest.mark.django_db
def test_body_and_headers_follow_the_contract(webhook: CommandReceiver) -> None:
    command = completed_task(make_people())
    assert outbox.deliver_due() == 1

    (body,) = webhook.received
    assert set(body) == {"id", "kind", "instance_id", "task_id", "actor", "created_at", "event"}
    assert body["id"] == str(command.command_id)
    assert body["kind"] == "complete" and body["actor"] == "alice"
    assert body["task_id"] == str(command.task_id)
    assert body["instance_id"] == str(command.instance_id)
    assert body["event"]["type"] == "HumanTaskCompleted"
    assert body["event"]["event_id"] == str(command.event.event_id)
    headers = {k.lower(): v for k, v in webhook.headers[0].items()}
    assert headers["x-dashboard-command-id"] == body["id"]
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["x-dashboard-timestamp"]) - time.time()) < 5
    assert headers["x-dashboard-signature"].startswith("v1=")
    command.refresh_from_db()
    assert command.status == Status.DELIVERED and command.delivered_at is not None
    assert outbox.command_state(command) == "Sent to the engine"


def test_a_tampered_or_stale_request_is_refused_by_the_receiver_verifier(settings: Any) -> None:
    settings.OUTBOX_WEBHOOK_SECRET = SECRET
    verifier = DashboardCommands(object(), secret=SECRET)
    raw = outbox.encode({"id": str(uuid.uuid4()), "kind": "complete"})
    headers = outbox.signed_headers("x", raw)
    assert verifier.verify(headers, raw) is None
    assert verifier.verify(headers, raw.replace(b"complete", b"cancel")) == "bad signature"
    stale = outbox.signed_headers("x", raw, now=time.time() - 301)
    assert "stale" in (verifier.verify(stale, raw) or "")
    # during a rotation both secrets sign; a receiver with either accepts
    settings.OUTBOX_WEBHOOK_SECRET = "new-secret," + SECRET
    assert verifier.verify(outbox.signed_headers("x", raw), raw) is None


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_and_retried(webhook: CommandReceiver, settings: Any) -> None:
    settings.OUTBOX_WEBHOOK_SECRET = "not-the-engines-secret"
    command = completed_task(make_people())
    outbox.deliver_due()
    assert webhook.refused == ["bad signature"] and webhook.received == []
    command.refresh_from_db()
    assert command.status == Status.FAILED and "HTTP 401: bad signature" in command.last_error
    assert outbox.command_state(command).startswith("Delivery failed: HTTP 401: bad signature")


# --- retries, backoff, dead letters ---------------------------------------------------------


def test_backoff_is_full_jitter_capped(settings: Any) -> None:
    settings.OUTBOX_BACKOFF_BASE = 2
    settings.OUTBOX_BACKOFF_MAX = 600
    for attempts in range(0, 40):
        for _ in range(20):
            assert 0 <= outbox.backoff_delay(attempts) <= min(600, 2 * 2**attempts)
    assert max(outbox.backoff_delay(20) for _ in range(200)) > 300  # spread up to the cap


@pytest.mark.django_db
def test_failures_are_retried_with_backoff_then_delivered(webhook: CommandReceiver) -> None:
    webhook.script = [(500, {"error": "db down"}), (503, {}), (200, {"status": "applied"})]
    command = completed_task(make_people())

    before = timezone.now()
    assert outbox.deliver_due() == 1
    command.refresh_from_db()
    assert (command.status, command.attempts) == (Status.FAILED, 1)
    assert command.last_error == "HTTP 500: db down"
    assert before <= command.next_attempt_at <= before + timedelta(seconds=2 * 2 + 1)
    state = outbox.command_state(command)
    assert state.startswith("Delivery failed: HTTP 500: db down, retrying at ")
    if command.next_attempt_at > timezone.now():
        assert outbox.deliver_due() == 0  # not due yet

    make_due()
    outbox.deliver_due()
    command.refresh_from_db()
    assert (command.status, command.attempts) == (Status.FAILED, 2)
    make_due()
    outbox.deliver_due()
    command.refresh_from_db()
    assert (command.status, command.attempts) == (Status.DELIVERED, 3)
    assert webhook.ids == [str(command.command_id)] * 3  # one id: the engine dedupes


@pytest.mark.django_db
def test_dead_after_max_attempts(webhook: CommandReceiver, settings: Any) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    webhook.default = (502, {"error": "bad gateway"})
    command = completed_task(make_people())
    for _ in range(5):
        outbox.deliver_due()
        make_due()
    command.refresh_from_db()
    assert (command.status, command.attempts) == (Status.DEAD, 3)
    assert len(webhook.received) == 3
    assert "gave up after 3 attempts" in command.last_error
    assert outbox.command_state(command).startswith("Not delivered: HTTP 502: bad gateway")


@pytest.mark.django_db
def test_a_final_refusal_is_dead_at_once(webhook: CommandReceiver) -> None:
    people = make_people()
    task = make_task()
    webhook.default = (422, {"status": "refused", "error": "this engine cannot pause"})
    actions.pause_instance(instance_id=task.instance_id, user=people.admin, reason="x")
    outbox.deliver_due()
    command = one()
    assert (command.status, command.attempts) == (Status.DEAD, 1)
    assert command.last_error == "HTTP 422: this engine cannot pause"
    assert outbox.command_state(command) == "Not delivered: HTTP 422: this engine cannot pause"


@pytest.mark.django_db
def test_nothing_is_lost_while_the_receiver_is_down(settings: Any) -> None:
    port = free_port()
    settings.OUTBOX_BACKEND = "webhook"
    settings.OUTBOX_WEBHOOK_URL = f"http://127.0.0.1:{port}/dashboard/commands"
    settings.OUTBOX_WEBHOOK_SECRET = SECRET
    settings.OUTBOX_TIMEOUT = 2
    people = make_people()
    commands = [completed_task(people) for _ in range(3)]
    for _ in range(3):
        outbox.deliver_due()
        make_due()
    states = set(OutboxCommand.objects.values_list("status", flat=True))
    assert states == {Status.FAILED}
    assert "cannot reach the engine" in OutboxCommand.objects.first().last_error

    receiver = CommandReceiver(SECRET, port=port)  # the engine comes back
    try:
        make_due()
        assert outbox.deliver_due() == 3
    finally:
        receiver.close()
    assert sorted(receiver.ids) == sorted(str(c.command_id) for c in commands)
    assert set(OutboxCommand.objects.values_list("status", flat=True)) == {Status.DELIVERED}


# --- order per instance ---------------------------------------------------------------------


@pytest.mark.django_db
def test_commands_of_one_instance_go_in_order(webhook: CommandReceiver) -> None:
    people = make_people()
    task = make_task()
    iid = task.instance_id
    other = completed_task(people)  # another instance: not held up
    actions.pause_instance(instance_id=iid, user=people.admin, reason="x")
    actions.resume_instance(instance_id=iid, user=people.admin)
    pause, resume = OutboxCommand.objects.filter(instance_id=iid).order_by("id")

    webhook.script = [(200, {}), (500, {"error": "busy"})]  # `other`, then pause fails
    outbox.deliver_due()
    assert webhook.ids == [str(other.command_id), str(pause.command_id)]  # resume waits
    make_due()
    outbox.deliver_due()
    assert webhook.ids[2:] == [str(pause.command_id), str(resume.command_id)]


@pytest.mark.django_db
def test_a_dead_command_does_not_block_the_next(webhook: CommandReceiver) -> None:
    people = make_people()
    task = make_task()
    actions.pause_instance(instance_id=task.instance_id, user=people.admin, reason="x")
    actions.resume_instance(instance_id=task.instance_id, user=people.admin)
    webhook.script = [(409, {"error": "not waiting", "instance_status": "done"})]
    outbox.deliver_due()
    pause, resume = OutboxCommand.objects.order_by("id")
    assert (pause.status, resume.status) == (Status.DEAD, Status.DELIVERED)


# --- the attempt right after the commit, the command, the callable backend ----------------


@pytest.mark.django_db
def test_the_action_is_delivered_right_after_its_commit(
    webhook: CommandReceiver, inline: None, django_capture_on_commit_callbacks: Any
) -> None:
    people = make_people()
    task = make_task()
    with django_capture_on_commit_callbacks(execute=True):
        actions.complete_task(task=task, user=people.alice, form_data=None)
    assert one().status == Status.DELIVERED and len(webhook.received) == 1


@pytest.mark.django_db
def test_deliver_outbox_once(webhook: CommandReceiver) -> None:
    people = make_people()
    for _ in range(3):
        completed_task(people)
    call_command("deliver_outbox", "--once")
    assert len(webhook.received) == 3


CALLED: list[dict[str, Any]] = []


def collect(body: dict[str, Any]) -> None:
    CALLED.append(body)


@pytest.mark.django_db
def test_the_callable_backend(settings: Any) -> None:
    settings.OUTBOX_BACKEND = "callable"
    settings.OUTBOX_CALLABLE = "tests.core.test_outbox.collect"
    CALLED.clear()
    command = completed_task(make_people())
    outbox.deliver_due()
    assert [b["id"] for b in CALLED] == [str(command.command_id)]
    assert one().status == Status.DELIVERED


# --- the console outbox page and the retry of a dead command -------------------------------


@pytest.mark.django_db
def test_admin_retries_a_dead_command_from_the_console(
    webhook: CommandReceiver, client: Any, inline: None, django_capture_on_commit_callbacks: Any
) -> None:
    people = make_people()
    webhook.script = [(404, {"error": "no such instance"})]
    command = completed_task(people)
    outbox.deliver_due()
    command.refresh_from_db()
    assert command.status == Status.DEAD

    client.login(request=HttpRequest(), username="alice", password=PASSWORD)
    assert client.get("/workflows/outbox/").status_code == 404
    assert client.post(f"/workflows/outbox/{command.pk}/retry/").status_code == 404
    client.login(request=HttpRequest(), username="admin", password=PASSWORD)
    page = client.get("/workflows/outbox/").content.decode()
    assert "Not delivered: HTTP 404: no such instance" in page
    assert f"/workflows/outbox/{command.pk}/retry/" in page
    assert f"/workflows/{command.instance_id}/" in page
    assert client.get(f"/workflows/outbox/{command.pk}/retry/").status_code == 405

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/workflows/outbox/{command.pk}/retry/")
    assert response.status_code == 302
    command.refresh_from_db()
    assert command.status == Status.DELIVERED
    assert webhook.ids == [str(command.command_id)] * 2
    assert "Every command has been delivered." in client.get("/workflows/outbox/").content.decode()


@pytest.mark.django_db
def test_retry_keeps_the_command_and_resets_its_attempts(webhook: CommandReceiver) -> None:
    webhook.default = (400, {"error": "malformed"})
    command = completed_task(make_people())
    outbox.deliver_due()
    command.refresh_from_db()
    assert outbox.retry(command) is True
    assert (command.status, command.attempts) == (Status.PENDING, 0)
    assert outbox.command_state(command) == "Waiting to be delivered"
    assert outbox.retry(command) is False  # only dead ones


@pytest.mark.django_db
def test_admin_action_retries_dead_commands(webhook: CommandReceiver, client: Any) -> None:
    from django.contrib.auth.models import User

    webhook.default = (409, {"error": "ended"})
    command = completed_task(make_people())
    outbox.deliver_due()
    User.objects.create_superuser("root", password=PASSWORD)
    client.login(request=HttpRequest(), username="root", password=PASSWORD)
    listing = client.get("/admin/workflows/outboxcommand/?status__exact=dead")
    assert listing.status_code == 200 and "HTTP 409: ended" in listing.content.decode()
    client.post(
        "/admin/workflows/outboxcommand/",
        {"action": "retry_dead", "_selected_action": [command.pk]},
    )
    command.refresh_from_db()
    assert command.status == Status.PENDING


# --- the pages tell the truth ---------------------------------------------------------------


@pytest.mark.django_db
def test_task_and_instance_pages_show_each_state(
    webhook: CommandReceiver, client: Any, settings: Any
) -> None:
    people = make_people()
    task = make_task()
    actions.complete_task(task=task, user=people.alice, form_data=None)
    client.login(request=HttpRequest(), username="admin", password=PASSWORD)
    task_url, instance_url = f"/tasks/{task.task_id}/", f"/workflows/{task.instance_id}/"

    def both() -> list[str]:
        return [client.get(u).content.decode() for u in (task_url, instance_url)]

    assert all("Waiting to be delivered" in p for p in both())
    webhook.script = [(500, {"error": "busy"})]
    outbox.deliver_due()
    assert all("Delivery failed: HTTP 500: busy, retrying at" in p for p in both())
    make_due()
    webhook.script = [(422, {"status": "refused", "error": "read-only engine"})]
    outbox.deliver_due()
    assert all("Not delivered: HTTP 422: read-only engine" in p for p in both())
    outbox.retry(one())
    outbox.deliver_due()
    assert all("Sent to the engine" in p for p in both())

    settings.OUTBOX_BACKEND = "none"
    OutboxCommand.objects.update(status=Status.PENDING)
    assert all("Recorded; no engine is configured" in p for p in both())
    confirm = client.get(f"/workflows/{task.instance_id}/cancel/").content.decode()
    assert "recorded here only" in confirm and "The engine is told" not in confirm


# --- several workers never deliver one command twice (PostgreSQL) --------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_deliver_a_command_twice(webhook: CommandReceiver) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://…)")
    people = make_people()
    tasks = [make_task(assignee="alice") for _ in range(30)]
    for task in tasks:
        actions.pause_instance(instance_id=task.instance_id, user=people.admin, reason="x")
        actions.resume_instance(instance_id=task.instance_id, user=people.admin)
        actions.complete_task(task=task, user=people.alice, form_data=None)
    total = OutboxCommand.objects.count()
    assert total == 90
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def worker() -> None:
        from django.db import connection as own

        try:
            barrier.wait()
            while outbox.deliver_due(limit=7):
                pass
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    # a worker may stop while the other still holds a command in flight: drain
    while outbox.deliver_due():
        pass
    assert len(webhook.ids) == total == len(set(webhook.ids))
    assert set(OutboxCommand.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    for task in tasks:  # in order per instance
        order = [c["kind"] for c in webhook.received if c["instance_id"] == str(task.instance_id)]
        assert order == ["pause", "resume", "complete"]
