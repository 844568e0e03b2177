"""Reads of the console: the query each page needs."""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from django.db.models import Case, Count, DateTimeField, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from workflows import search
from workflows.labels import workflow_label
from workflows.models import (
    DASHBOARD_SOURCE,
    Event,
    HumanTask,
    StepRun,
    WorkflowInstance,
    dashboard_source,
)
from workflows.wire import parse_datetime

PAGE_SIZE = 50

# sort key -> (field, descending)
SORTS: dict[str, tuple[str, bool]] = {
    "-started": ("started_at", True),
    "started": ("started_at", False),
    "-activity": ("last_event_at", True),
    "-duration": ("duration_seconds", True),
    "duration": ("duration_seconds", False),
}
DEFAULT_SORT = "-started"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids are 64-bit in SQL: a cursor beyond that names no row (and SQLite cannot bind it).
_ID_BOUND = 2**63


def day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def day_end(d: date) -> datetime:
    """The first instant after day ``d`` (filters are half-open); not for ``date.max``."""
    return day_start(d) + timedelta(days=1)


QS = TypeVar("QS", bound=QuerySet[Any])


def in_days(qs: QS, field: str, first: date | None, last: date | None) -> QS:
    """Rows whose ``field`` falls on ``first`` .. ``last`` (UTC days, both included; either
    may be None). Any date a form accepts works, 0001-01-01 and 9999-12-31 included: the
    day after the last one there is does not exist, so that day has no upper bound."""
    if first:
        qs = qs.filter(**{f"{field}__gte": day_start(first)})
    if last and last < date.max:
        qs = qs.filter(**{f"{field}__lt": day_end(last)})
    elif last:
        qs = qs.filter(**{f"{field}__isnull": False})
    return qs


# --- instances -------------------------------------------------------------------------------


def workflow_names() -> list[str]:
    return list(
        WorkflowInstance.objects.exclude(workflow_name="")
        .order_by("workflow_name")
        .values_list("workflow_name", flat=True)
        .distinct()
    )


def instance_list(
    *, filters: dict[str, Any], with_status: bool = True
) -> QuerySet[WorkflowInstance]:
    """Instances matching the list filters (all but the status when ``with_status`` is off)."""
    qs = WorkflowInstance.objects.all()
    if with_status and filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("workflow"):
        qs = qs.filter(workflow_name=filters["workflow"])
    if filters.get("version"):
        qs = qs.filter(workflow_version=filters["version"])
    if filters.get("tenant"):
        qs = qs.filter(tenant_id=filters["tenant"])
    if filters.get("initiator"):
        qs = qs.filter(initiator=filters["initiator"])
    qs = in_days(qs, "started_at", filters.get("started_from"), filters.get("started_to"))
    if filters.get("q"):
        # Business data (initial data, workflow name, its tasks' words), or an id's beginning.
        ids = search.instance_ids(filters["q"], with_id_prefix=True)
        if ids is not None:
            qs = qs.filter(instance_id__in=ids)
    return qs


def status_counts(*, filters: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, under all filters but the status itself."""
    counts = dict(
        instance_list(filters=filters, with_status=False)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [
        (value, label, counts.get(value, 0)) for value, label in WorkflowInstance.Status.choices
    ]


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    next_cursor: str | None
    is_first: bool
    sort: str = DEFAULT_SORT
    extra: dict[str, Any] = field(default_factory=dict)


def _sort_expression(field_name: str) -> Any:
    # NULLs (an instance without WorkflowStarted, a running one's duration) sort as lowest.
    if field_name == "duration_seconds":
        return Coalesce(F(field_name), Value(-1.0), output_field=FloatField())
    return Coalesce(F(field_name), Value(_EPOCH))


def _encode_cursor(value: Any, pk: int) -> str:
    raw = f"{value.isoformat() if isinstance(value, datetime) else repr(float(value))}|{pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, field_name: str) -> tuple[Any, int] | None:
    """The (sort value, id) a cursor names, or None for one that cannot be used (garbage,
    a date beyond what the database can compare, a number that is not finite, an id beyond
    64 bits): the first page is shown instead."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value, pk_text = raw.rsplit("|", 1)
        pk = int(pk_text)
        if not 0 <= pk < _ID_BOUND:
            return None
        if field_name == "duration_seconds":
            number = float(value)
            return (number, pk) if math.isfinite(number) else None
        # In UTC, as the database compares: 0001-01-01T00:00+05:00 is before the first
        # instant (OverflowError, caught as ValueError by parse_datetime).
        return parse_datetime(value), pk
    except (ValueError, UnicodeDecodeError):
        return None


def keyset_page(
    qs: QuerySet[Any], *, sort: str, cursor: str | None, size: int = PAGE_SIZE
) -> KeysetPage:
    """One page after ``cursor`` in (sort value, id) order; stable while rows are added."""
    sort = sort if sort in SORTS else DEFAULT_SORT
    field_name, desc = SORTS[sort]
    qs = qs.annotate(sort_value=_sort_expression(field_name))
    qs = qs.order_by("-sort_value", "-id") if desc else qs.order_by("sort_value", "id")
    decoded = _decode_cursor(cursor, field_name) if cursor else None
    if decoded:
        value, pk = decoded
        if desc:
            qs = qs.filter(Q(sort_value__lt=value) | Q(sort_value=value, id__lt=pk))
        else:
            qs = qs.filter(Q(sort_value__gt=value) | Q(sort_value=value, id__gt=pk))
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = _encode_cursor(rows[-1].sort_value, rows[-1].pk) if more and rows else None
    return KeysetPage(items=rows, next_cursor=next_cursor, is_first=decoded is None, sort=sort)


def instance_page(*, filters: dict[str, Any], cursor: str | None) -> KeysetPage:
    qs = instance_list(filters=filters)
    return keyset_page(qs, sort=filters.get("sort") or DEFAULT_SORT, cursor=cursor)


# --- one instance ----------------------------------------------------------------------------


def instance_get(*, instance_id: uuid.UUID) -> WorkflowInstance | None:
    return WorkflowInstance.objects.filter(instance_id=instance_id).first()


def instance_open_tasks(*, instance_id: uuid.UUID) -> QuerySet[HumanTask]:
    return (
        HumanTask.objects.open()
        .filter(instance__instance_id=instance_id)
        .select_related("assignee_user", "assignee_group")
        .order_by("created_at", "id")
    )


def instance_tasks(*, instance_id: uuid.UUID) -> list[HumanTask]:
    return list(
        HumanTask.objects.filter(instance__instance_id=instance_id)
        .select_related("assignee_user", "assignee_group")
        .order_by("created_at", "id")
    )


def instance_steps(*, instance_id: uuid.UUID) -> list[StepRun]:
    return list(
        StepRun.objects.filter(instance__instance_id=instance_id).order_by("started_at", "id")
    )


def reassignment_times(*, instance_id: uuid.UUID) -> dict[uuid.UUID, list[datetime]]:
    times: dict[uuid.UUID, list[datetime]] = {}
    for task_id, ts in (
        Event.objects.filter(instance_id=instance_id, type="HumanTaskReassigned")
        .order_by("timestamp")
        .values_list("task_id", "timestamp")
    ):
        if task_id is not None:
            times.setdefault(task_id, []).append(ts)
    return times


# --- queues and history ----------------------------------------------------------------------


def unrouted_tasks(*, now: datetime | None = None) -> QuerySet[HumanTask]:
    """Open tasks whose assignee names no user and no group: the overdue ones first (the
    most overdue at the top), then the rest oldest first."""
    now = now or timezone.now()
    overdue = Q(due_at__isnull=False, due_at__lt=now)
    return (
        HumanTask.objects.open()
        .unrouted()
        .select_related("instance")
        .annotate(
            overdue_rank=Case(When(overdue, then=Value(0)), default=Value(1)),
            overdue_due=Case(
                When(overdue, then=F("due_at")), default=None, output_field=DateTimeField()
            ),
        )
        .order_by("overdue_rank", "overdue_due", "created_at", "id")
    )


def unrouted_task(*, task_id: uuid.UUID | str) -> HumanTask | None:
    """The task if it is open and unrouted now, else None."""
    return (
        HumanTask.objects.open()
        .unrouted()
        .select_related("instance")
        .filter(task_id=task_id)
        .first()
    )


def unrouted_count() -> int:
    return HumanTask.objects.open().unrouted().count()


UNROUTED_PAGE_SIZE = 50


def unrouted_page_ids(*, page: int, now: datetime | None = None) -> list[str]:
    """The task ids on page ``page`` of Unrouted, in the page's order (for live inserts)."""
    start = (max(page, 1) - 1) * UNROUTED_PAGE_SIZE
    qs = unrouted_tasks(now=now).values_list("task_id", flat=True)
    return [str(t) for t in qs[start : start + UNROUTED_PAGE_SIZE]]


def history_names() -> dict[str, list[str]]:
    """What History's dropdowns offer: the workflows there are, the steps that had tasks,
    and the people who completed a task or acted through the dashboard."""
    steps = (
        HumanTask.objects.exclude(step_name="")
        .order_by("step_name")
        .values_list("step_name", flat=True)
        .distinct()
    )
    completed_by = (
        HumanTask.objects.exclude(completed_by="")
        .order_by()
        .values_list("completed_by", flat=True)
        .distinct()
    )
    actors = (
        Event.objects.filter(source__startswith=DASHBOARD_SOURCE)
        .exclude(actor="")
        .order_by()
        .values_list("actor", flat=True)
        .distinct()
    )
    people = sorted({*completed_by, *actors} - {None})
    return {"workflow": workflow_names(), "step": list(steps), "person": people}


def _person_event_q(person: str) -> Q:
    return (
        Q(source=dashboard_source(person))
        | Q(payload__reassigned_by=person)
        | Q(payload__from_assignee=person)
        | Q(payload__to_assignee=person)
    )


def task_history(*, filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Completed and reassigned tasks, newest activity first."""
    qs = (
        HumanTask.objects.filter(Q(status=HumanTask.Status.COMPLETED) | Q(reassignment_count__gt=0))
        .select_related("instance")
        .annotate(activity_at=Coalesce("completed_at", "last_reassigned_at", "created_at"))
    )
    if filters.get("person"):
        person = filters["person"]
        reassigned = Event.objects.filter(type="HumanTaskReassigned").filter(
            _person_event_q(person)
        )
        qs = qs.filter(Q(completed_by=person) | Q(task_id__in=reassigned.values("task_id")))
    if filters.get("workflow"):
        qs = qs.filter(instance__workflow_name=filters["workflow"])
    if filters.get("step"):
        qs = qs.filter(step_name=filters["step"])
    qs = in_days(qs, "activity_at", filters.get("date_from"), filters.get("date_to"))
    if filters.get("q"):
        # The task's own words, or its workflow's business data.
        ids = search.task_ids(filters["q"])
        if ids is not None:
            qs = qs.filter(task_id__in=ids)
    return qs.order_by("-activity_at", "-id")


def audit_events(*, filters: dict[str, Any]) -> QuerySet[Event]:
    """Every action a person took through the dashboard, newest first."""
    return export_events(filters=filters, audit_only=True)


def export_events(*, filters: dict[str, Any], audit_only: bool) -> QuerySet[Event]:
    """Events under the audit filters: people's actions only, or every event."""
    qs = Event.objects.all()
    if audit_only:
        qs = qs.filter(source__startswith=DASHBOARD_SOURCE)
    if filters.get("person"):
        qs = qs.filter(source=dashboard_source(filters["person"]))
    if filters.get("type"):
        qs = qs.filter(type=filters["type"])
    if filters.get("instance"):
        qs = qs.filter(instance_id=filters["instance"])
    qs = in_days(qs, "timestamp", filters.get("date_from"), filters.get("date_to"))
    if filters.get("q"):
        # Events of the workflows whose business data or tasks' words match.
        ids = search.instance_ids(filters["q"])
        if ids is not None:
            qs = qs.filter(instance_id__in=ids)
    if filters.get("workflow") or filters.get("step"):
        instances = WorkflowInstance.objects.all()
        if filters.get("workflow"):
            instances = instances.filter(workflow_name=filters["workflow"])
        qs = qs.filter(instance_id__in=instances.values("instance_id"))
        if filters.get("step"):
            qs = qs.filter(payload__step_name=filters["step"])
    return qs.order_by("-timestamp", "-seq")


def event_titles(events: list[Event]) -> dict[uuid.UUID, str]:
    task_ids = {e.task_id for e in events if e.task_id}
    return dict(HumanTask.objects.filter(task_id__in=task_ids).values_list("task_id", "title"))


def instance_names(instance_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {
        iid: workflow_label(name)
        for iid, name in WorkflowInstance.objects.filter(instance_id__in=instance_ids).values_list(
            "instance_id", "workflow_name"
        )
    }


@dataclass(frozen=True)
class PersonActivity:
    username: str
    completed: QuerySet[HumanTask]
    completed_count: int
    reassigned_count: int
    actions: QuerySet[Event]
    actions_count: int
    open_assigned: int


def person_activity(*, username: str) -> PersonActivity:
    """What one person did: tasks completed, reassignments and admin actions."""
    completed = (
        HumanTask.objects.filter(status=HumanTask.Status.COMPLETED, completed_by=username)
        .select_related("instance")
        .order_by("-completed_at", "-id")
    )
    # Event.actor is the dashboard user, else whom the payload names (indexed with type).
    actions = Event.objects.filter(actor=username, source=dashboard_source(username)).order_by(
        "-timestamp", "-seq"
    )
    reassigned = Event.objects.filter(actor=username, type="HumanTaskReassigned")
    return PersonActivity(
        username=username,
        completed=completed,
        completed_count=completed.count(),
        reassigned_count=reassigned.count(),
        actions=actions,
        actions_count=actions.count(),
        open_assigned=HumanTask.objects.open().filter(assignee_user__username=username).count(),
    )


def now() -> datetime:
    return timezone.now()
