"""Tasks waiting for a person or team that did not exist yet are routed once it does."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import post_save

from workflows.ingest import events_ingested
from workflows.models import HumanTask
from workflows.store import refold


def route_waiting_tasks(name: str, prefix: str) -> None:
    """Re-fold the instances whose unrouted tasks name this user or group."""
    instance_ids: set[uuid.UUID] = set(
        HumanTask.objects.unrouted()
        .filter(assignee__in=[name, f"{prefix}:{name}"])
        .values_list("instance__instance_id", flat=True)
    )
    if instance_ids:
        with transaction.atomic():
            changes = refold(instance_ids)
            # Open pages hear of the newly routed tasks as of any ingest.
            transaction.on_commit(lambda: events_ingested.send(sender=HumanTask, changes=changes))


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        route_waiting_tasks(instance.get_username(), "user")


def _group_saved(sender: Any, instance: Group, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        route_waiting_tasks(instance.name, "group")


def connect() -> None:
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="workflows.route_user")
    post_save.connect(_group_saved, sender=Group, dispatch_uid="workflows.route_group")
