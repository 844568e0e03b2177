"""Writes of the console: an admin cancels, pauses or resumes a workflow.

Each action checks the state rule under a lock and is recorded as the contract's event
through ``inbox.services.record_action`` (ingest plus an outbox row, one transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from inbox.events import WorkflowCanceled, WorkflowPaused, WorkflowResumed
from inbox.models import Event
from inbox.services import record_action
from workflows_ui.models import WorkflowInstance
from workflows_ui.permissions import can_manage

Status = WorkflowInstance.Status

# action -> the states it may start from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "cancel": (Status.RUNNING, Status.WAITING, Status.PAUSED),
    "pause": (Status.RUNNING, Status.WAITING),
    "resume": (Status.PAUSED,),
}
PAST = {"cancel": "canceled", "pause": "paused", "resume": "resumed"}


class ActionRefused(Exception):
    """The action does not apply; ``message`` says why, for the person who asked."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def allowed_actions(instance: WorkflowInstance) -> list[str]:
    return [a for a, states in ALLOWED_FROM.items() if instance.status in states]


def _state_message(action: str, instance: WorkflowInstance) -> str:
    allowed = " or ".join(str(s) for s in ALLOWED_FROM[action])
    if instance.status in WorkflowInstance.TERMINAL:
        return (
            f"This workflow has already ended ({instance.status}); "
            f"it can no longer be {PAST[action]}."
        )
    return f"Only a {allowed} workflow can be {PAST[action]}; this one is {instance.status}."


def _action_time(instance: WorkflowInstance) -> datetime:
    # The fold orders by timestamp: an action must sort after every event the admin saw,
    # even if the engine's clock runs ahead of ours.
    now = timezone.now()
    if instance.last_event_at and instance.last_event_at >= now:
        return instance.last_event_at + timedelta(milliseconds=1)
    return now


def _locked(instance_id: uuid.UUID, user: Any, action: str) -> WorkflowInstance:
    if not can_manage(user):
        raise PermissionDenied("managing workflows needs the manage_instances permission")
    instance = WorkflowInstance.objects.select_for_update().filter(instance_id=instance_id).first()
    if instance is None:
        raise ActionRefused("No workflow instance has this id.")
    if instance.status not in ALLOWED_FROM[action]:
        raise ActionRefused(_state_message(action, instance))
    return instance


def cancel_instance(*, instance_id: uuid.UUID, user: Any, reason: str) -> Event:
    """Cancel a running, waiting or paused workflow; its open tasks close with it."""
    reason = (reason or "").strip()
    if not reason:
        raise ActionRefused("Give a reason to cancel a workflow.")
    with transaction.atomic():
        instance = _locked(instance_id, user, "cancel")
        username = user.get_username()
        return record_action(
            event=WorkflowCanceled(
                instance_id=instance.instance_id,
                timestamp=_action_time(instance),
                reason=reason,
                canceled_by=username,
                current_step=instance.current_step or None,
            ),
            actor=username,
        )


def pause_instance(*, instance_id: uuid.UUID, user: Any, reason: str = "") -> Event:
    """Pause a running or waiting workflow at its current step."""
    with transaction.atomic():
        instance = _locked(instance_id, user, "pause")
        return record_action(
            event=WorkflowPaused(
                instance_id=instance.instance_id,
                timestamp=_action_time(instance),
                reason=(reason or "").strip() or None,
                paused_at_step=instance.current_step or None,
            ),
            actor=user.get_username(),
        )


def resume_instance(*, instance_id: uuid.UUID, user: Any) -> Event:
    """Resume a paused workflow at the step where it was paused."""
    with transaction.atomic():
        instance = _locked(instance_id, user, "resume")
        username = user.get_username()
        return record_action(
            event=WorkflowResumed(
                instance_id=instance.instance_id,
                timestamp=_action_time(instance),
                resumed_by=username,
                resuming_at_step=instance.current_step or None,
            ),
            actor=username,
        )


def perform_action(*, action: str, instance_id: uuid.UUID, user: Any, reason: str = "") -> Event:
    if action == "cancel":
        return cancel_instance(instance_id=instance_id, user=user, reason=reason)
    if action == "pause":
        return pause_instance(instance_id=instance_id, user=user, reason=reason)
    if action == "resume":
        return resume_instance(instance_id=instance_id, user=user)
    raise ActionRefused(f"Unknown action {action!r}.")


@dataclass(frozen=True, slots=True)
class BulkResult:
    instance_id: str
    ok: bool
    message: str
    workflow_name: str = ""


def bulk_cancel(*, instance_ids: Iterable[str], user: Any, reason: str) -> list[BulkResult]:
    """Cancel each instance in its own transaction; one refusal does not stop the others."""
    if not can_manage(user):
        raise PermissionDenied("managing workflows needs the manage_instances permission")
    if not (reason or "").strip():
        raise ActionRefused("Give a reason to cancel workflows.")
    results: list[BulkResult] = []
    seen: set[str] = set()
    for raw in instance_ids:
        if raw in seen:
            continue
        seen.add(raw)
        try:
            iid = uuid.UUID(str(raw))
        except ValueError:
            results.append(BulkResult(str(raw), False, "Not an instance id."))
            continue
        name = (
            WorkflowInstance.objects.filter(instance_id=iid)
            .values_list("workflow_name", flat=True)
            .first()
            or ""
        )
        try:
            cancel_instance(instance_id=iid, user=user, reason=reason)
        except ActionRefused as exc:
            results.append(BulkResult(str(iid), False, exc.message, name))
        else:
            results.append(BulkResult(str(iid), True, "Canceled.", name))
    return results
