"""The API's own queries: its task and instance lists, with their filters."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from workflows.models import HumanTask, WorkflowInstance
from workflows.selectors import Person, visible_instances


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


def api_instance_list(
    *, user: Person | None, filters: dict[str, Any]
) -> QuerySet[WorkflowInstance]:
    qs = visible_instances(user=user)
    if "status" in filters:
        qs = qs.filter(status=filters["status"].lower())
    if "workflow" in filters:
        qs = qs.filter(workflow_name=filters["workflow"])
    return qs.order_by("-started_at", "-id")
