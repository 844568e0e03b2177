"""Reads: the query each page or endpoint needs."""

from __future__ import annotations

import uuid
from collections.abc import Container
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.paginator import Paginator
from django.db.models import Count, F, Func, Q, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact
from django.utils import timezone

from workflows import search
from workflows.models import HumanTask, reassigned_task_ids
from workflows.roles import role_groups

Person = User | AnonymousUser


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
    if (q := filters.get("q")) and (match := search.task_matches(q)) is not None:
        # Its step, title or description, or its workflow's name and business data.
        qs = qs.filter(match)
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


def next_task(*, user: User) -> HumanTask | None:
    """The task My tasks shows first (its default order), or None when it is empty."""
    return my_tasks(user=user, filters={}).first()


def user_groups(user: User) -> QuerySet[Group]:
    """The teams whose queues this person works (role groups have no queue of their own)."""
    groups = user.groups.all()  # type: ignore[attr-defined]
    return groups.exclude(pk__in=role_groups().values("pk")).order_by("name")


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


# --- what the live layer asks of these lists -----------------------------------------------

# A task's audience: (status, assignee user id, assignee group id), as broadcasts carry it.
Audience = tuple[str, int | None, int | None] | list[Any]


def belongs_on_list(
    mode: str, audience: Audience | None, *, user_id: int, group_ids: Container[int]
) -> bool:
    """Whether a task with this audience is on this person's ``mode`` list: the rule of
    ``my_tasks`` ("mine") and ``team_queue`` ("queue"), for a task that is not loaded."""
    if audience is None or audience[0] != HumanTask.Status.OPEN:
        return False
    if mode == "mine":
        return bool(audience[1] == user_id)
    if mode == "queue":
        return audience[2] in group_ids
    return False


def list_page_ids(*, user: User, mode: str, filters: dict[str, Any]) -> list[str]:
    """The task ids on the page of My tasks or Team queues that these filters show."""
    select = my_tasks if mode == "mine" else team_queue
    qs = select(user=user, filters=filters).values_list("task_id", flat=True)
    page = Paginator(qs, PAGE_SIZE).get_page(filters.get("page"))
    return [str(i) for i in page.object_list]


def task_for_row(*, task_id: uuid.UUID | str) -> HumanTask | None:
    """One task with what its list row shows (rows are the same for everyone who sees them)."""
    return (
        HumanTask.objects.select_related("instance", "assignee_user", "assignee_group")
        .filter(task_id=task_id)
        .first()
    )


def my_open_count(*, user_id: int) -> int:
    return HumanTask.objects.open().filter(assignee_user_id=user_id).count()


def open_per_group() -> dict[int, int]:
    """Open tasks in each team's queue, by group id."""
    rows = (
        HumanTask.objects.open()
        .exclude(assignee_group=None)
        .values("assignee_group_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["assignee_group_id"]: r["n"] for r in rows}


def nav_counts(*, user: User) -> dict[str, Any]:
    """Open-task counts for the navigation: mine, and each of my groups' queues as
    (group id, name, count); the id names the count's element, whatever the name holds."""
    mine = my_open_count(user_id=user.pk)
    per_group = list(
        user_groups(user)
        .annotate(open_count=Count("tasks", filter=Q(tasks__status=HumanTask.Status.OPEN)))
        .values_list("id", "name", "open_count")
    )
    return {"my": mine, "queues": per_group, "queue_total": sum(n for _, _, n in per_group)}


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
