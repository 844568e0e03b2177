"""Reads: the query each page or endpoint needs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db.models import Count, F, Func, Q, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from inbox.events import fold_order
from inbox.models import Event, HumanTask, reassigned_task_ids
from workflows_ui.models import WorkflowInstance
from workflows_ui.permissions import can_read

Person = User | AnonymousUser


def can_see_all(user: Person) -> bool:
    """Admins and managers see every task and instance."""
    return can_read(user)


def api_task_list(*, user: Person | None, filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Tasks for the API; ``user=None`` means an ingest token, which sees every task."""
    qs = HumanTask.objects.select_related("instance", "assignee_user", "assignee_group")
    if user is not None:
        qs = qs.for_user(user)
    if "assignee" in filters:
        name = filters["assignee"]
        qs = qs.filter(
            Q(assignee=name) | Q(assignee_user__username=name) | Q(assignee_group__name=name)
        )
    if "status" in filters:
        qs = qs.filter(status=filters["status"].lower())
    if "due_before" in filters:
        qs = qs.filter(due_at__lt=filters["due_before"])
    if "due_after" in filters:
        qs = qs.filter(due_at__gte=filters["due_after"])
    if "instance_id" in filters:
        qs = qs.filter(instance_id=filters["instance_id"])
    return qs.order_by("-created_at", "-id")


def visible_instances(*, user: Person | None) -> QuerySet[WorkflowInstance]:
    """Instances a reader may see: all for tokens and managers, else those with their tasks."""
    qs = WorkflowInstance.objects.all()
    if user is None or can_see_all(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    task_instances = HumanTask.objects.for_user(user).values("instance_id")
    return qs.filter(instance_id__in=task_instances)


def api_instance_list(
    *, user: Person | None, filters: dict[str, Any]
) -> QuerySet[WorkflowInstance]:
    qs = visible_instances(user=user)
    if "status" in filters:
        qs = qs.filter(status=filters["status"].lower())
    if "workflow" in filters:
        qs = qs.filter(workflow_name=filters["workflow"])
    return qs.order_by("-started_at", "-id")


def instance_timeline(*, instance_id: uuid.UUID) -> list[Event]:
    """Every event of an instance in fold order: timestamp, then causes before effects."""
    events = list(Event.objects.filter(instance_id=instance_id))
    events.sort(key=fold_order)
    return events


# --- assignee pages ------------------------------------------------------------------------

PAGE_SIZE = 25
DUE_SOON = timedelta(hours=24)


class _Unindexed(Func):
    """A column, sorted or compared without walking an index for it.

    On SQLite the column gets a unary "+", which keeps the planner from using an index for
    that term (https://sqlite.org/optoverview.html#uplus); elsewhere it is the plain column.
    SQLite has no statistics unless ANALYZE runs, so on 1M tasks it walked
    (status, created_at) over every open task to skip sorting a team queue by "Newest", and
    started a list filtered by workflow from all that workflow's instances (100-300 ms;
    bench/README.md). The lists are one person's or a few teams' open tasks: sorting or
    filtering them after the (assignee, status) index is always cheap.
    """

    template = "%(expressions)s"
    arity = 1

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra)


def _ordering(sort: str) -> list[Any]:
    field, *rest = {
        "due": ("due_at", "-priority"),
        "created": ("created_at",),
        "-created": ("-created_at",),
        "priority": ("-priority", "due_at"),
    }.get(sort, ("due_at", "-priority"))
    keys: list[Any] = []
    for name in (field, *rest):
        expr = _Unindexed(F(name.lstrip("-")))
        keys.append(
            expr.desc(nulls_last=True) if name.startswith("-") else expr.asc(nulls_last=True)
        )
    return [*keys, "-id"]


def filter_tasks(qs: QuerySet[HumanTask], filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Apply the list filters shared by My tasks, Team queues and Done."""
    now = timezone.now()
    if q := filters.get("q"):
        qs = qs.filter(
            Q(title__icontains=q) | Q(description__icontains=q) | Q(step_name__icontains=q)
        )
    if workflow := filters.get("workflow"):
        qs = qs.filter(Exact(_Unindexed("instance__workflow_name"), workflow))
    if filters.get("due") == "overdue":
        qs = qs.filter(due_at__lt=now)
    elif filters.get("due") == "soon":
        qs = qs.filter(due_at__gte=now, due_at__lt=now + DUE_SOON)
    return qs


def my_tasks(*, user: User, filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Open tasks assigned to this person, filtered and sorted."""
    qs = HumanTask.objects.open().filter(assignee_user=user).select_related("instance")
    return filter_tasks(qs, filters).order_by(*_ordering(filters.get("sort", "due")))


def user_groups(user: User) -> QuerySet[Group]:
    """The teams whose queues this person works (role groups have no queue of their own)."""
    return user.groups.order_by("name")  # type: ignore[attr-defined]


def team_queue(*, user: User, filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Open tasks assigned to this person's groups (or one of them)."""
    groups = user_groups(user)
    if name := filters.get("group"):
        groups = groups.filter(name=name)
    qs = HumanTask.objects.open().filter(assignee_group__in=groups)
    qs = qs.select_related("instance", "assignee_group")
    return filter_tasks(qs, filters).order_by(*_ordering(filters.get("sort", "due")))


def done_tasks(*, user: User, filters: dict[str, Any]) -> QuerySet[HumanTask]:
    """Tasks this person completed or reassigned, newest first."""
    # A claim is a reassignment by me to me: while I still hold the task it is not done.
    still_mine = Q(status=HumanTask.Status.OPEN, assignee_user=user)
    mine = HumanTask.objects.filter(
        Q(completed_by_user=user)
        | (Q(task_id__in=reassigned_task_ids(user.get_username())) & ~still_mine)
    ).select_related("instance", "assignee_user", "assignee_group")
    return (
        filter_tasks(mine, filters)
        .annotate(done_at=Coalesce("completed_at", "last_reassigned_at"))
        .order_by(F("done_at").desc(nulls_last=True), "-id")
    )


def workflow_names(qs: QuerySet[HumanTask]) -> list[str]:
    """The workflows present in a list, for its filter."""
    return sorted(
        n for n in qs.order_by().values_list("instance__workflow_name", flat=True).distinct() if n
    )


def nav_counts(*, user: User) -> dict[str, Any]:
    """Open-task counts for the navigation: mine, and each of my groups' queues."""
    mine = HumanTask.objects.open().filter(assignee_user=user).count()
    per_group = list(
        user_groups(user)
        .annotate(open_count=Count("tasks", filter=Q(tasks__status=HumanTask.Status.OPEN)))
        .values_list("name", "open_count")
    )
    return {"my": mine, "queues": per_group, "queue_total": sum(n for _, n in per_group)}


def may_act(user: Person, task: HumanTask) -> bool:
    """The assignee, members of the assignee group, and admins may act on an open task."""
    if not user.is_authenticated or not task.is_open:
        return False
    if user.has_perm("workflows_ui.manage_instances"):
        return True
    if task.assignee_user_id is not None:
        return task.assignee_user_id == user.pk
    if task.assignee_group_id is not None:
        return user.groups.filter(pk=task.assignee_group_id).exists()  # type: ignore[union-attr]
    return False


def visible_tasks(*, user: Person) -> QuerySet[HumanTask]:
    """Tasks a person may open (``HumanTaskQuerySet.for_user`` is the rule)."""
    return HumanTask.objects.for_user(user)


def task_detail(*, user: Person, task_id: uuid.UUID) -> HumanTask:
    """One task for its page, or Http404 when this person may not see it."""
    qs = visible_tasks(user=user).select_related(
        "instance", "assignee_user", "assignee_group", "completed_by_user"
    )
    return get_object_or_404(qs, task_id=task_id)


def actionable_task(*, user: Person, task_id: uuid.UUID) -> HumanTask:
    """A task for an action: Http404 unless this person may see it and, while it is open,
    act on it (a closed one is returned, so the caller can say who closed it)."""
    task = task_detail(user=user, task_id=task_id)
    if task.is_open and not may_act(user, task):
        raise Http404("No task here for you")
    return task


def holders(task: HumanTask) -> list[str]:
    """Who holds a task: its user, or the members of its group."""
    if task.assignee_user is not None:
        return [task.assignee_user.get_username()]
    if task.assignee_group is not None:
        return list(
            task.assignee_group.user_set.filter(is_active=True)
            .order_by("username")
            .values_list("username", flat=True)
        )
    return []


def assignee_search(*, query: str, limit: int = 8) -> list[dict[str, str]]:
    """People and teams whose name starts with or contains the query, people first."""
    query = query.strip()
    if not query:
        return []
    User = get_user_model()
    users = (
        User.objects.filter(is_active=True)
        .filter(
            Q(username__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
        .order_by("username")[:limit]
    )
    groups = Group.objects.filter(name__icontains=query).order_by("name")[:limit]
    results = [
        {"kind": "user", "value": u.get_username(), "label": u.get_full_name() or u.get_username()}
        for u in users
    ]
    results += [
        {"kind": "group", "value": f"group:{g.name}", "label": f"Team {g.name}"} for g in groups
    ]
    return results[:limit]
