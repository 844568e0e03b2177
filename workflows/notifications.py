"""Emails that reach people: "a task was assigned to you (or your team)" and the daily
digest of overdue tasks, through Django's email framework (docs/architecture.md, "Email").

Only people who asked for them (``Preferences.notify_assigned`` / ``notify_digest``), are
active and have an email address get them.

Assignment emails follow the outbox's pattern: ``queue_assignment_emails`` writes one
``AssignmentEmail`` row per recipient in the ingest transaction (unique on recipient, task
and the assigning event, so a replay never makes a second one) and a first attempt follows
the commit, in the background; the worker (``workflows.worker``) retries failures with
backoff until ``NOTIFY_MAX_ATTEMPTS``, then marks them failed. A row is claimed with a lease
(``attempts`` + 1, ``next_attempt_at`` = now + lease) by one conditional update, so two
workers never send it both.

Digests: ``send_due_digests`` claims a ``DigestEmail`` row per (person, local day) by
inserting it (the unique constraint lets one claimer win) before it reads their overdue
tasks or sends anything; nobody gets an empty digest.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workflows.models import (
    AssignmentEmail,
    DigestEmail,
    EmailStatus,
    HumanTask,
    Preferences,
)
from workflows.store import TaskChange

log = logging.getLogger(__name__)

# The event types that assign a task; the last of a batch's for a task is the email's key.
ASSIGNING_TYPES = frozenset({"HumanTaskCreated", "HumanTaskReassigned"})
DIGEST_LIMIT = 50  # tasks listed in one digest; the rest are counted
SUBJECT_MAX = 150


@dataclass(frozen=True, slots=True)
class Trigger:
    """The event of a batch that assigned a task, and who did it ("" for the engine)."""

    event_id: uuid.UUID
    actor: str


# --- writing, in the ingest transaction ---------------------------------------------------


def _assigned(change: TaskChange) -> bool:
    """Open, now held by a person or team, and not by that one before."""
    status, user_id, group_id = change.after
    if status != HumanTask.Status.OPEN or (user_id is None and group_id is None):
        return False
    return change.before is None or change.before[1:] != change.after[1:]


def queue_assignment_emails(
    changes: Iterable[TaskChange], triggers: Mapping[uuid.UUID, Trigger]
) -> int:
    """Write the emails for tasks this transaction assigned; how many rows were offered.

    ``triggers``: per task, the last assigning event of the batch. A task that changed hands
    without one (a re-fold for another reason) sends nothing. Nobody is told of their own
    doing: a claim sends nothing, a release reaches the team's other members. Bounded: one
    EXISTS when there is anything to tell (and nothing more when nobody opted in), then one
    query each for memberships, recipients and team names, and one insert.
    """
    candidates = [c for c in changes if c.task_id in triggers and _assigned(c)]
    if not candidates:
        return 0
    if not Preferences.objects.filter(notify_assigned=True).exists():
        return 0
    group_ids = {c.after[2] for c in candidates if c.after[2] is not None}
    members: dict[int, set[int]] = defaultdict(set)
    through = get_user_model().groups.through
    for team_id, member_id in through.objects.filter(group_id__in=group_ids).values_list(
        "group_id", "user_id"
    ):
        members[team_id].add(member_id)
    wanted = {c.after[1] for c in candidates if c.after[1] is not None}
    wanted.update(*members.values())
    eligible: dict[int, str] = dict(
        get_user_model()
        .objects.filter(pk__in=wanted, is_active=True, preferences__notify_assigned=True)
        .exclude(email="")
        .values_list("pk", "username")
    )
    if not eligible:
        return 0
    team_names: dict[int, str] = dict(
        Group.objects.filter(pk__in=group_ids).values_list("pk", "name")
    )
    rows = []
    for change in candidates:
        _, user_id, group_id = change.after
        trigger = triggers[change.task_id]
        recipients: set[int] = (
            {user_id} if user_id is not None else members.get(group_id or 0, set())
        )
        team = "" if user_id is not None else team_names.get(group_id or 0, "")
        for recipient in sorted(recipients):
            if recipient in eligible and eligible[recipient] != trigger.actor:
                rows.append(
                    AssignmentEmail(
                        recipient_id=recipient,
                        task_id=change.task_id,
                        event_id=trigger.event_id,
                        team=team[:150],
                        actor=trigger.actor[:200],
                    )
                )
    if rows:
        AssignmentEmail.objects.bulk_create(rows, ignore_conflicts=True)
        task_ids = sorted({r.task_id for r in rows})
        transaction.on_commit(partial(deliver_soon, task_ids, len(rows)))
    return len(rows)


# --- settings, read at call time ----------------------------------------------------------


def _max_attempts() -> int:
    return max(1, int(settings.NOTIFY_MAX_ATTEMPTS))


def _lease() -> timedelta:
    # Longer than one send may take (EMAIL_TIMEOUT applies to each network step).
    return timedelta(seconds=max(60.0, 6 * float(settings.EMAIL_TIMEOUT or 10)))


def _backoff(attempts: int) -> timedelta:
    """Full jitter, with the outbox's base and cap."""
    base = float(settings.OUTBOX_BACKOFF_BASE)
    cap = float(settings.OUTBOX_BACKOFF_MAX)
    return timedelta(seconds=random.uniform(0, min(cap, base * 2 ** min(attempts, 32))))


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUBJECT_MAX else flat[: SUBJECT_MAX - 1] + "…"


def person_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _time_zone_of(user: Any) -> zoneinfo.ZoneInfo:
    prefs = Preferences.objects.filter(user=user).first()
    return _zone(prefs.time_zone if prefs else "")


# --- claiming and recording (shared by both kinds of email) -------------------------------


def _take(model: type[Any], pk: int, now: datetime) -> bool:
    """Lease one due row by a conditional update; True when this caller got it."""
    return bool(
        model.objects.filter(pk=pk, status=EmailStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + _lease())
    )


def _due_ids(model: type[Any], now: datetime, limit: int, **filters: Any) -> list[int]:
    return list(
        model.objects.filter(status=EmailStatus.PENDING, **filters)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )


def _record(row: Any, error: str | None, *, skipped: bool = False, **fields: Any) -> str:
    """The outcome of the attempt this worker leased; returns the new status. Its times
    count from the attempt's (the lease's ``now``), so a caller's clock is kept throughout."""
    now = row.last_attempt_at or timezone.now()
    mine = type(row).objects.filter(pk=row.pk, last_attempt_at=row.last_attempt_at)
    if skipped:
        status, fields = EmailStatus.SKIPPED, {**fields, "next_attempt_at": None}
        fields["last_error"] = error or ""
    elif error is None:
        status, fields = EmailStatus.SENT, {**fields, "sent_at": now, "next_attempt_at": None}
    elif row.attempts >= _max_attempts():
        status = EmailStatus.FAILED
        fields = {
            **fields,
            "next_attempt_at": None,
            "last_error": f"{error} (gave up after {row.attempts} attempts)",
        }
    else:
        status = EmailStatus.PENDING
        fields = {**fields, "next_attempt_at": now + _backoff(row.attempts), "last_error": error}
    mine.update(status=status, **fields)
    return str(status)


def _send(message: EmailMessage) -> str | None:
    """Hand a message to the backend; None when it took it, else the error."""
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any failure of the backend is retried
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def _message(
    subject: str, template: str, context: dict[str, Any], to: str, tz: zoneinfo.ZoneInfo
) -> EmailMessage:
    """Times in the template are shown in ``tz`` (the person's zone)."""
    with timezone.override(tz):
        body = render_to_string(template, context)
    return EmailMessage(subject=_one_line(subject), body=body, to=[to])


# --- assignment emails --------------------------------------------------------------------


def _assignment_message(row: AssignmentEmail, task: HumanTask) -> EmailMessage:
    recipient = row.recipient
    actor = get_user_model().objects.filter(username=row.actor).first() if row.actor else None
    tz = _time_zone_of(recipient)
    context = {
        "recipient_name": person_name(recipient),
        "task": task,
        "title": str(task),
        "team": row.team,
        "actor_name": person_name(actor) if actor else row.actor,
        "workflow": task.instance.display_name,
        "due": task.due_at,
        "url": absolute(reverse("task_detail", args=[task.task_id])),
        "settings_url": absolute(reverse("settings")),
    }
    return _message(
        f"Task assigned: {task}", "email/task_assigned.txt", context, recipient.email, tz
    )


def _still_wanted(row: AssignmentEmail, task: HumanTask | None) -> str:
    """Why the email should no longer go (the world moved since it was written), or ""."""
    recipient = row.recipient
    if task is None or not task.is_open:
        return "the task is no longer open"
    if not recipient.is_active or not recipient.email:
        return "the person is inactive or has no email address"
    if not Preferences.objects.filter(user=recipient, notify_assigned=True).exists():
        return "the person no longer asks for these emails"
    if not HumanTask.objects.for_user(recipient).filter(pk=task.pk).exists():
        return "the person can no longer see the task"
    return ""


def deliver_assignment(row: AssignmentEmail) -> str:
    """One attempt at a row this worker leased; the status it ends in."""
    task = HumanTask.objects.select_related("instance").filter(task_id=row.task_id).first()
    try:
        reason = _still_wanted(row, task)
        if reason:
            return _record(row, reason, skipped=True)
        assert task is not None
        error = _send(_assignment_message(row, task))
    except Exception as exc:  # a bug in rendering must not lose the email
        log.exception("notifications: assignment email %s failed", row.pk)
        error = f"{type(exc).__name__}: {exc}"[:500]
    if error:
        log.warning("notifications: assignment email %s: %s", row.pk, error)
    return _record(row, error)


def deliver_due(limit: int = 100, *, task_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Attempt up to ``limit`` due assignment emails (optionally of these tasks); how many
    were attempted. Safe to run in several threads and processes at once."""
    now = timezone.now()
    filters = {"task_id__in": list(task_ids)} if task_ids is not None else {}
    attempted = 0
    for pk in _due_ids(AssignmentEmail, now, limit, **filters):
        if not _take(AssignmentEmail, pk, now):
            continue  # another worker has it
        row = AssignmentEmail.objects.select_related("recipient").filter(pk=pk).first()
        if row is not None:  # gone with its recipient meanwhile
            deliver_assignment(row)
        attempted += 1
    return attempted


def _in_thread(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        log.exception("notifications: a background delivery failed")
    finally:
        connection.close()


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _background(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the emails' one background thread, off the request; a process that
    exits (a command) waits for it first (tests replace this)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
    _executor.submit(_in_thread, fn)


def deliver_soon(task_ids: list[uuid.UUID], count: int) -> None:
    """After the commit: send these tasks' ``count`` new emails at once, in the background
    (with any of theirs still due)."""
    try:
        _background(partial(deliver_due, limit=count + 20, task_ids=task_ids))
    except Exception:
        log.exception("notifications: cannot schedule the emails of %d task(s)", len(task_ids))


# --- the daily digest ---------------------------------------------------------------------


def digests_due(now: datetime) -> list[tuple[int, date]]:
    """(person, local day) of everyone whose digest hour has come today, in their own
    time zone, and who has no digest row for that day yet."""
    hour = int(settings.DIGEST_HOUR)
    people = (
        get_user_model()
        .objects.filter(is_active=True, preferences__notify_digest=True)
        .exclude(email="")
        .values_list("pk", "preferences__time_zone")
    )
    candidates: list[tuple[int, date]] = []
    for pk, zone in people:
        local = now.astimezone(_zone(zone or ""))
        if local.hour >= hour:
            candidates.append((pk, local.date()))
    if not candidates:
        return []
    have = set(
        DigestEmail.objects.filter(
            user_id__in={pk for pk, _ in candidates}, day__in={day for _, day in candidates}
        ).values_list("user_id", "day")
    )
    return [c for c in candidates if c not in have]


def claim_digest(user_id: int, day: date, now: datetime) -> DigestEmail | None:
    """Insert the (person, day) row, leased to this caller; None when someone else has it."""
    try:
        with transaction.atomic():
            return DigestEmail.objects.create(
                user_id=user_id,
                day=day,
                attempts=1,
                last_attempt_at=now,
                next_attempt_at=now + _lease(),
            )
    except IntegrityError:
        return None


def overdue_tasks(user: Any, now: datetime) -> Any:
    """The person's own and their teams' open tasks whose due time has passed."""
    return (
        HumanTask.objects.open()
        .filter(due_at__lt=now)
        .filter(Q(assignee_user=user) | Q(assignee_group__in=user.groups.all()))
        .select_related("instance", "assignee_group")
        .order_by("due_at", "id")
    )


def deliver_digest(row: DigestEmail, now: datetime) -> str:
    """One attempt at a digest this worker holds; the status it ends in."""
    user = row.user
    try:
        wants = Preferences.objects.filter(user=user, notify_digest=True).exists()
        if not (wants and user.is_active and user.email):
            return _record(row, "the person no longer asks for it", skipped=True)
        qs = overdue_tasks(user, now)
        tasks = list(qs[:DIGEST_LIMIT])
        if not tasks:
            return _record(row, "no overdue tasks", skipped=True)
        total = qs.count() if len(tasks) == DIGEST_LIMIT else len(tasks)
        tz = _time_zone_of(user)
        items = [
            {
                "title": str(t),
                "workflow": t.instance.display_name,
                "team": t.assignee_group.name if t.assignee_group else "",
                "due": t.due_at,
                "url": absolute(reverse("task_detail", args=[t.task_id])),
            }
            for t in tasks
        ]
        subject = f"{total} overdue task{'s' if total != 1 else ''}"
        context = {
            "recipient_name": person_name(user),
            "items": items,
            "total": total,
            "more": total - len(items),
            "day": row.day,
            "inbox_url": absolute(reverse("my_tasks")),
            "settings_url": absolute(reverse("settings")),
        }
        error = _send(_message(subject, "email/digest.txt", context, user.email, tz))
    except Exception as exc:
        log.exception("notifications: digest %s failed", row.pk)
        error = f"{type(exc).__name__}: {exc}"[:500]
        total = 0
    if error:
        log.warning("notifications: digest %s: %s", row.pk, error)
    return _record(row, error, task_count=total)


def send_due_digests(now: datetime | None = None) -> int:
    """Send today's digests that are due and retry failed ones; how many were attempted.
    Any number of callers may run it at once: each (person, day) goes to one of them."""
    now = now or timezone.now()
    attempted = 0
    for user_id, day in digests_due(now):
        row = claim_digest(user_id, day, now)
        if row is not None:
            deliver_digest(DigestEmail.objects.select_related("user").get(pk=row.pk), now)
            attempted += 1
    for pk in _due_ids(DigestEmail, now, 100):  # retries of failed attempts
        if _take(DigestEmail, pk, now):
            retry = DigestEmail.objects.select_related("user").filter(pk=pk).first()
            if retry is not None:
                deliver_digest(retry, now)
                attempted += 1
    return attempted
