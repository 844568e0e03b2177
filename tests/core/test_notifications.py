"""Emails that reach people (workflows.notifications): assignment emails after commit, once,
to those who asked for them and may see the task; the daily digest, once a day."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support import events as f
from tests.support.inbox_world import People, ago, from_now, make_people, make_task
from workflows import actions, notifications
from workflows.models import AssignmentEmail, DigestEmail, EmailStatus, HumanTask
from workflows.preferences import save_preferences
from workflows.worker import Worker


class FailingBackend(BaseEmailBackend):
    """An email server that is down."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("the mail server refused the connection")


REAL_BACKGROUND = notifications._background


@pytest.fixture(autouse=True)
def inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The after-commit attempt runs in the test's thread."""
    monkeypatch.setattr(notifications, "_background", lambda fn: fn())


@pytest.fixture
def people(db: Any) -> People:
    people = make_people()
    for user in (people.alice, people.bob, people.carol, people.admin, people.erin):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    return people


def opt_in(user: User, *, assigned: bool = True, digest: bool = False, tz: str = "") -> None:
    save_preferences(user, time_zone=tz, notify_assigned=assigned, notify_digest=digest)


def sent_to(username: str) -> list[Any]:
    return [m for m in mail.outbox if m.to == [f"{username}@example.com"]]


# --- assignment emails --------------------------------------------------------------------


def test_an_opted_in_assignee_gets_one_email_after_the_commit(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(assignee="alice", title="Approve Q3 travel", due=from_now(days=2))
        assert mail.outbox == []  # nothing before the commit
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "Task assigned: Approve Q3 travel"
    assert "Hello Alice Martin," in message.body
    assert "A task was assigned to you:" in message.body
    assert "Workflow: Expense approval" in message.body
    assert f"http://127.0.0.1:8000/tasks/{task.task_id}/" in message.body
    assert "http://127.0.0.1:8000/settings/" in message.body
    row = AssignmentEmail.objects.get()
    assert (row.status, row.attempts, row.recipient_id) == (EmailStatus.SENT, 1, people.alice.pk)

    # The same events again: duplicates, no second email.
    with django_capture_on_commit_callbacks(execute=True):
        f.ingest(
            [
                f.human_task_created(
                    task.instance_id,
                    task.created_at,
                    task_id=task.task_id,
                    assignee="alice",
                    title="Approve Q3 travel",
                    due_at=task.due_at,
                )
            ]
        )
    assert len(mail.outbox) == 1
    assert AssignmentEmail.objects.count() == 1
    # A worker pass finds nothing due.
    assert notifications.deliver_due() == 0


def test_site_url_makes_the_links(
    people: People, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SITE_URL = "https://tasks.example.org"
    opt_in(people.alice)
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(assignee="alice")
    assert f"https://tasks.example.org/tasks/{task.task_id}/" in mail.outbox[0].body


def test_nothing_is_sent_when_the_transaction_rolls_back(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        make_task(assignee="alice")
        raise RuntimeError("the request failed after the ingest")
    assert callbacks == []
    assert AssignmentEmail.objects.count() == 0
    assert mail.outbox == []


def test_no_email_without_opting_in_or_without_an_address(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.bob, assigned=False, digest=True)  # a digest only
    opt_in(people.alice)
    people.alice.email = ""
    people.alice.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        make_task(assignee="alice")
        make_task(assignee="bob")
        make_task(assignee="carol")  # no preferences at all
    assert mail.outbox == []
    assert AssignmentEmail.objects.count() == 0


def test_a_team_assignment_reaches_its_opted_in_members(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    for user in (people.alice, people.bob, people.carol):
        opt_in(user)
    with django_capture_on_commit_callbacks(execute=True):
        make_task(assignee="finance", title="Check invoice 42")
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    assert all(m.subject == "Task assigned: Check invoice 42" for m in mail.outbox)
    assert "A task was assigned to your team finance:" in mail.outbox[0].body


def test_a_claim_tells_nobody_and_a_release_tells_the_other_members(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    opt_in(people.bob)
    task = make_task(assignee="finance")  # not committed: no emails for this part
    AssignmentEmail.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        task = actions.claim_task(task=task, user=people.alice)
    assert mail.outbox == []
    assert AssignmentEmail.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        actions.release_task(task=task, user=people.alice)
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    assert "your team finance by Alice Martin" in mail.outbox[0].body


def test_a_reassignment_to_someone_else_tells_them_who_did_it(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    opt_in(people.carol)
    task = make_task(assignee="alice")
    AssignmentEmail.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        actions.reassign_task(task=task, user=people.alice, to_assignee="carol", reason="HR")
    assert [m.to for m in mail.outbox] == [["carol@example.com"]]
    assert "A task was assigned to you by Alice Martin:" in mail.outbox[0].body


def test_who_can_no_longer_see_the_task_by_the_send_gets_nothing(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    opt_in(people.carol)
    with django_capture_on_commit_callbacks(execute=True):
        task = make_task(assignee="alice")
        # Before the commit, the engine hands it on to carol: alice may no longer see it.
        f.ingest(
            [
                f.human_task_reassigned(
                    task.instance_id, ago(minutes=1), task.task_id, to_assignee="carol"
                )
            ]
        )
    assert [m.to for m in mail.outbox] == [["carol@example.com"]]
    skipped = AssignmentEmail.objects.get(recipient=people.alice)
    assert skipped.status == EmailStatus.SKIPPED
    assert skipped.last_error == "the person can no longer see the task"
    assert not HumanTask.objects.for_user(people.alice).filter(pk=task.pk).exists()


def test_a_failed_send_is_retried_then_marked_failed(
    people: People, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    settings.NOTIFY_MAX_ATTEMPTS = 3
    opt_in(people.alice)
    with django_capture_on_commit_callbacks(execute=True):
        make_task(assignee="alice")
    row = AssignmentEmail.objects.get()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    assert "refused the connection" in row.last_error
    assert row.next_attempt_at is not None

    def later() -> None:
        AssignmentEmail.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    later()
    assert notifications.deliver_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 2)
    later()
    assert notifications.deliver_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.FAILED, 3)
    assert "gave up after 3 attempts" in row.last_error
    later()
    assert notifications.deliver_due() == 0  # failed is final

    # A retry that works: the next email goes out, once.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        make_task(assignee="alice")
    assert len(mail.outbox) == 1


def test_a_row_in_flight_is_not_sent_by_another_worker(people: People) -> None:
    opt_in(people.alice)
    make_task(assignee="alice")  # its after-commit attempt never runs (not committed)
    row = AssignmentEmail.objects.get()
    now = timezone.now()
    assert notifications._take(AssignmentEmail, row.pk, now)  # a worker leased it
    assert notifications.deliver_due() == 0  # the other finds nothing due
    assert mail.outbox == []


def test_batches_ask_a_bounded_number_of_queries(people: People) -> None:
    def ingest_tasks(n: int, assignee: str) -> int:
        iid = uuid.uuid4()
        batch = [f.workflow_started(iid, 0)] + [
            f.human_task_created(iid, 1, task_id=uuid.uuid4(), step_name=f"s{i}", assignee=assignee)
            for i in range(n)
        ]
        with CaptureQueriesContext(connection) as ctx:
            f.ingest(batch)
        # PostgreSQL's advisory locks are one statement per instance and task (ingest's own).
        return sum("pg_advisory_xact_lock" not in q["sql"] for q in ctx.captured_queries)

    def preference_queries(n: int) -> int:
        iid = uuid.uuid4()
        batch = [f.human_task_created(iid, 1, step_name=f"s{i}") for i in range(n)]
        with CaptureQueriesContext(connection) as ctx:
            f.ingest(batch)
        return sum("workflows_preferences" in q["sql"] for q in ctx.captured_queries)

    # Nobody opted in: one EXISTS, however many tasks.
    assert preference_queries(3) == preference_queries(40) == 1
    opt_in(people.alice)
    opt_in(people.bob)
    assert ingest_tasks(40, "finance") == ingest_tasks(3, "finance")
    assert AssignmentEmail.objects.count() == 2 * 43


# --- digests ------------------------------------------------------------------------------


def today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    day = timezone.now().astimezone(UTC).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def overdue_world(people: People, settings: Any) -> dict[str, HumanTask]:
    settings.DIGEST_HOUR = 8
    settings.TIME_ZONE = "UTC"
    tasks = {
        "mine": make_task(assignee="alice", title="Overdue expense", due=ago(days=3)),
        "team": make_task(assignee="finance", title="Overdue invoice", due=ago(days=4)),
        "later": make_task(assignee="alice", title="Not due yet", due=from_now(days=3)),
        "undated": make_task(assignee="alice", title="No due date"),
        "other": make_task(assignee="carol", title="Carol's overdue", due=ago(days=3)),
        "done": make_task(assignee="alice", title="Overdue but done", due=ago(days=3)),
    }
    actions.complete_task(task=tasks["done"], user=people.alice, form_data=None)
    AssignmentEmail.objects.all().delete()
    return tasks


def test_the_digest_lists_overdue_tasks_only_once_a_day(
    people: People, overdue_world: dict[str, HumanTask]
) -> None:
    opt_in(people.alice, assigned=False, digest=True)
    opt_in(people.carol, assigned=False, digest=True)
    # Nothing overdue for carol, today's digest or tomorrow's, whatever the time of day.
    HumanTask.objects.filter(assignee="carol").update(due_at=from_now(days=2))
    assert notifications.send_due_digests(today_at(7, 59)) == 0  # before the hour
    assert mail.outbox == []

    assert notifications.send_due_digests(today_at(8, 0)) == 2
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]  # carol: no empty digest
    message = mail.outbox[0]
    assert message.subject == "2 overdue tasks"
    assert "Overdue expense" in message.body and "Overdue invoice" in message.body
    assert "team finance" in message.body
    for title in ("Not due yet", "No due date", "Carol's overdue", "Overdue but done"):
        assert title not in message.body
    assert f"http://127.0.0.1:8000/tasks/{overdue_world['mine'].task_id}/" in message.body
    rows = {r.user_id: r for r in DigestEmail.objects.all()}
    assert (rows[people.alice.pk].status, rows[people.alice.pk].task_count) == ("sent", 2)
    assert rows[people.carol.pk].status == EmailStatus.SKIPPED

    # Run again that day (the command, or a second worker): nothing more.
    assert notifications.send_due_digests(today_at(8, 1)) == 0
    assert notifications.send_due_digests(today_at(23, 59)) == 0
    assert len(mail.outbox) == 1
    # The next day, one more.
    assert notifications.send_due_digests(today_at(8, 0, days=1)) == 2
    assert len(mail.outbox) == 2


def test_the_digest_hour_is_the_persons_own(
    people: People, overdue_world: dict[str, HumanTask]
) -> None:
    opt_in(people.alice, assigned=False, digest=True, tz="Asia/Tokyo")  # UTC+9
    assert notifications.send_due_digests(today_at(22, 59)) == 0  # 07:59 in Tokyo
    assert notifications.send_due_digests(today_at(23, 0)) == 1  # 08:00 the next day there
    row = DigestEmail.objects.get()
    assert row.day == today_at(0, days=1).date()
    assert "JST" in mail.outbox[0].body  # due times in the person's zone


def test_a_failed_digest_is_retried_and_never_sent_twice(
    people: People, overdue_world: dict[str, HumanTask], settings: Any
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    opt_in(people.alice, assigned=False, digest=True)
    assert notifications.send_due_digests(today_at(9)) == 1
    row = DigestEmail.objects.get()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    DigestEmail.objects.update(next_attempt_at=today_at(9, 30))
    assert notifications.send_due_digests(today_at(9, 10)) == 0  # not yet
    assert notifications.send_due_digests(today_at(9, 31)) == 1
    assert notifications.send_due_digests(today_at(9, 40)) == 0
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.SENT, 2)


def test_the_worker_sends_the_digests_at_the_hour(
    people: People, overdue_world: dict[str, HumanTask], settings: Any
) -> None:
    settings.DIGEST_CHECK_SECONDS = 60
    opt_in(people.alice, assigned=False, digest=True)
    worker = Worker()
    worker.step(today_at(7, 59, 30))
    assert mail.outbox == []
    worker.step(today_at(8, 0, 0))  # checked only once a minute
    assert mail.outbox == []
    worker.step(today_at(8, 0, 30))
    assert len(mail.outbox) == 1
    worker.step(today_at(8, 2))
    worker.step(today_at(12, 0))
    assert len(mail.outbox) == 1


def test_the_send_digests_command(
    people: People, overdue_world: dict[str, HumanTask], settings: Any, capsys: Any
) -> None:
    settings.DIGEST_HOUR = 0  # due at any time of the day
    opt_in(people.alice, assigned=False, digest=True)
    call_command("send_digests")
    call_command("send_digests")
    assert "1 digest(s) attempted." in capsys.readouterr().out
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_workers_send_one_digest_each_person(settings: Any) -> None:
    settings.DIGEST_HOUR = 0
    people = make_people()
    users = [people.alice, people.bob, people.carol]
    for user in users:
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
        opt_in(user, assigned=False, digest=True)
        make_task(assignee=user.username, title=f"Late for {user.username}", due=ago(days=2))
    now = timezone.now()
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []
    counts: list[int] = []

    def worker() -> None:
        from django.db import connection as own

        try:
            barrier.wait()
            counts.append(notifications.send_due_digests(now))
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
    assert sum(counts) == 3
    assert sorted(m.to[0] for m in mail.outbox if "overdue" in m.subject) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    assert DigestEmail.objects.filter(status=EmailStatus.SENT).count() == 3


def test_a_title_on_several_lines_makes_a_one_line_subject(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    opt_in(people.alice)
    with django_capture_on_commit_callbacks(execute=True):
        make_task(assignee="alice", title="Approve\r\nBcc: everyone@example.com")
    assert mail.outbox[0].subject == "Task assigned: Approve Bcc: everyone@example.com"
    assert mail.outbox[0].bcc == []


def test_the_send_notifications_command_sends_what_is_due(people: People) -> None:
    opt_in(people.alice)
    make_task(assignee="alice")  # not committed: only the worker will send it
    assert mail.outbox == []
    call_command("send_notifications", "--once")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert AssignmentEmail.objects.get().status == EmailStatus.SENT


@pytest.mark.django_db
def test_admins_see_the_emails_read_only_in_the_admin() -> None:
    from django.test import Client

    from demo.users import ensure_demo_users

    ensure_demo_users()  # demo people have addresses; admin holds the Admins role
    opt_in(User.objects.get(username="alice"))
    make_task(assignee="alice")
    client = Client()
    client.force_login(User.objects.get(username="admin"))
    for model in ("assignmentemail", "digestemail"):
        assert client.get(f"/admin/workflows/{model}/").status_code == 200
        assert client.get(f"/admin/workflows/{model}/add/").status_code == 403
    row = AssignmentEmail.objects.get()
    page = client.get(f"/admin/workflows/assignmentemail/{row.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_the_embedded_worker_runs_whatever_the_outbox_backend(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from workflows import worker

    settings.OUTBOX_BACKEND = "none"  # the embedded default: no engine, emails still go
    ran = threading.Event()
    monkeypatch.setattr(worker.Worker, "run", lambda self, stop: ran.set())
    monkeypatch.setattr(worker, "_embedded", None)
    thread = worker.start_embedded()
    thread.join(timeout=5)
    assert ran.is_set()
    assert thread.name == "worker" and thread.daemon


@pytest.mark.django_db(transaction=True)
def test_the_real_after_commit_attempt_sends_from_a_background_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notifications, "_background", REAL_BACKGROUND)  # not the inline one
    people = make_people()
    people.alice.email = "alice@example.com"
    people.alice.save(update_fields=["email"])
    opt_in(people.alice)
    make_task(assignee="alice", title="Sent for real")
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m.subject for m in mail.outbox] == ["Task assigned: Sent for real"]
    for _ in range(100):
        if AssignmentEmail.objects.get().status == EmailStatus.SENT:
            break
        time.sleep(0.05)
    assert AssignmentEmail.objects.get().status == EmailStatus.SENT
