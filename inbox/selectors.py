"""Reads: the query each page or endpoint needs."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from inbox.events import TYPE_RANK
from inbox.models import Event, HumanTask
from workflows_ui.models import WorkflowInstance

User = AbstractBaseUser | AnonymousUser


def can_see_all(user: User) -> bool:
    return user.has_perm("workflows_ui.manage_instances") or user.has_perm(
        "workflows_ui.view_history"
    )


def api_task_list(*, user: User | None, filters: dict[str, Any]) -> QuerySet[HumanTask]:
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


def visible_instances(*, user: User | None) -> QuerySet[WorkflowInstance]:
    """Instances a reader may see: all for tokens and managers, else those with their tasks."""
    qs = WorkflowInstance.objects.all()
    if user is None or can_see_all(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    task_instances = HumanTask.objects.for_user(user).values("instance_id")
    return qs.filter(instance_id__in=task_instances)


def api_instance_list(*, user: User | None, filters: dict[str, Any]) -> QuerySet[WorkflowInstance]:
    qs = visible_instances(user=user)
    if "status" in filters:
        qs = qs.filter(status=filters["status"].lower())
    if "workflow" in filters:
        qs = qs.filter(workflow_name=filters["workflow"])
    return qs.order_by("-started_at", "-id")


def instance_timeline(*, instance_id: uuid.UUID) -> list[Event]:
    """Every event of an instance in fold order: timestamp, then causes before effects."""
    events = list(Event.objects.filter(instance_id=instance_id))
    events.sort(key=lambda e: (e.timestamp, TYPE_RANK[e.type], str(e.event_id)))
    return events
