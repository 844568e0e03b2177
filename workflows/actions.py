"""People's actions: complete, reassign, claim and release a task; cancel, pause and
resume a workflow. Each is checked (who may, and in which state) and recorded as the
contract's event through ingest, with an outbox command for the engine, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workflows import jsonvalues, outbox
from workflows.assignees import resolve_assignees
from workflows.events import (
    HumanTaskCompleted,
    HumanTaskReassigned,
    WorkflowCanceled,
    WorkflowEvent,
    WorkflowPaused,
    WorkflowResumed,
)
from workflows.ingest import ingest_events, lock_instances
from workflows.labels import People, group_label, step_label
from workflows.models import Event, HumanTask, OutboxCommand, WorkflowInstance, dashboard_source
from workflows.roles import can_manage
from workflows.schemas import validation_errors
from workflows.timeline import RELEASE_REASON, reassignment_kind
from workflows.wire import to_wire_object


def record_action(*, event: WorkflowEvent, actor: str, action: str) -> Event:
    """Record what a person did as the contract's event and queue it for the engine.

    The event goes through the same ingest path as an engine's; the outbox command
    (``action`` is its kind: complete, reassign, claim, release, cancel, pause, resume) is
    written in the same transaction, so the engine hears of exactly the actions that were
    stored. Once the transaction commits, a first delivery attempt runs in the background.
    """
    if action not in OutboxCommand.Action.values:
        raise ValueError(f"unknown outbox action {action!r}")
    wire = to_wire_object(event, event_id=uuid.uuid4())
    with transaction.atomic():
        result = ingest_events(events=[wire], source=dashboard_source(actor))
        stored = result.events[0]
        command = OutboxCommand.objects.create(
            event=stored,
            kind=stored.type,
            action=action,
            actor=actor,
            instance_id=stored.instance_id,
            task_id=stored.task_id,
            payload=wire,
        )
        transaction.on_commit(partial(outbox.deliver_soon, command.instance_id))
    return stored


# --- what people send: the same limits whatever the door (HTML forms, the JSON API) -------

COMMENT_MAX_LENGTH = 5000  # a completion's comment
REASON_MAX_LENGTH = 1000  # a reassignment's reason
ASSIGNEE_MAX_LENGTH = 200  # HumanTask.assignee
INSTANCE_REASON_MAX_LENGTH = 2000  # why a workflow is canceled or paused


def _check_text(field: str, value: str, limit: int) -> None:
    """Refuse text that is too long or that the database cannot hold (NUL, surrogates)."""
    problem = jsonvalues.text_problem(value)
    if problem:
        raise ActionRefused(f"The {field.replace('_', ' ')}: {problem}.", field=field)
    if len(value) > limit:
        raise ActionRefused(
            f"The {field.replace('_', ' ')} is too long: {len(value)} characters, at most {limit}.",
            field=field,
        )


def _check_form_data(form_data: Any) -> None:
    if form_data is None:
        return
    if not isinstance(form_data, dict):
        raise InvalidFormData([("form_data", "expected an object")])
    # In the event it becomes, form_data sits at level 2 (the event object is level 1).
    found = jsonvalues.problem(form_data, path="form_data", depth=2)
    if found is not None:
        raise InvalidFormData([found])


# --- tasks: complete, reassign, claim, release ---------------------------------------------


class TaskConflict(Exception):
    """Someone else changed the task first; the message says who did what and when."""

    def __init__(self, task: HumanTask):
        self.task = task
        super().__init__(describe_task_state(task))


class ActionRefused(Exception):
    """The action does not apply (a rule, not a race); ``message`` says why, for the person
    who asked, and ``field`` names what they sent that is at fault, if anything."""

    def __init__(self, message: str, *, field: str = ""):
        self.message = message
        self.field = field
        super().__init__(message)


class InvalidFormData(ActionRefused):
    """Form data that breaks the task's schema; ``errors`` are (field or None, message)."""

    def __init__(self, errors: list[tuple[str | None, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{f or 'form'}: {m}" for f, m in errors))


class WorkflowNotActive(ActionRefused):
    """The task's workflow is paused or has ended: its tasks cannot be completed now.

    A refusal by state, like a lost race: the API and the pages answer it with 409."""

    def __init__(self, instance: WorkflowInstance):
        self.instance = instance
        super().__init__(workflow_state(instance).message)


@dataclass(frozen=True, slots=True)
class WorkflowState:
    """What a task page says about its workflow's state, and whether completing is open.

    ``message`` is "" while the workflow runs or waits; ``key`` changes whenever the
    message would (the live layer sends the banner only when it does)."""

    status: str
    message: str
    can_complete: bool
    key: str


ERROR_SUMMARY_LENGTH = 200


def _error_summary(instance: WorkflowInstance) -> str:
    first_line = (instance.error or "").strip().splitlines()[0:1]
    text = first_line[0].strip() if first_line else ""
    if len(text) > ERROR_SUMMARY_LENGTH:
        text = text[: ERROR_SUMMARY_LENGTH - 1] + "…"
    if instance.error_type:
        text = f"{instance.error_type}: {text}" if text else instance.error_type
    return text or "no error was given"


def _on(at: datetime | None) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M %Z") if at else "an unknown time"


def workflow_state(instance: WorkflowInstance) -> WorkflowState:
    """The task page's words for its workflow's state: paused, canceled, failed, completed.

    Completing a task is open only while its workflow runs or waits; reassigning, claiming
    and releasing stay open while it is paused (the task waits for whoever holds it then).
    """
    status = instance.status
    Status = WorkflowInstance.Status
    if status in (Status.PAUSED, Status.CANCELED):
        by = instance.paused_by if status == Status.PAUSED else instance.canceled_by
        who = People.of([by]).label(by) if by else "its engine"
    if status == Status.PAUSED:
        reason = instance.pause_reason.strip()
        message = (
            f"This workflow is paused by {who} since "
            f"{_on(instance.paused_at)}{': ' + reason if reason else ''}. "
            "The task can be completed when it resumes."
        )
        at = instance.paused_at
    elif status == Status.CANCELED:
        reason = instance.cancel_reason.strip()
        message = (
            f"This workflow was canceled by {who} on "
            f"{_on(instance.ended_at)}{': ' + reason if reason else ''}. "
            "Its tasks can no longer be completed."
        )
        at = instance.ended_at
    elif status == Status.FAILED:
        step = f" at step {step_label(instance.failed_step)}" if instance.failed_step else ""
        message = (
            f"This workflow failed on {_on(instance.ended_at)}{step}: "
            f"{_error_summary(instance)}. Its tasks can no longer be completed."
        )
        at = instance.ended_at
    elif status == Status.COMPLETED:
        message = (
            f"This workflow completed on {_on(instance.ended_at)}. "
            "Its tasks can no longer be completed."
        )
        at = instance.ended_at
    else:
        return WorkflowState(status=status, message="", can_complete=True, key=status)
    key = f"{status}:{at.isoformat() if at else ''}"
    return WorkflowState(status=status, message=message, can_complete=False, key=key)


def describe_task_state(task: HumanTask) -> str:
    """One sentence on the task's current state, for people who lost a race: who completed,
    claimed, released or reassigned it, by name (one query for the names)."""
    when = _when(task.closed_at or task.last_reassigned_at)
    people = People.of([task.completed_by, task.last_reassigned_by, task.assignee])
    if task.status == HumanTask.Status.COMPLETED:
        return f"{people.label(task.completed_by) or 'Someone'} already completed this task {when}."
    if task.status == HumanTask.Status.CANCELED:
        instance = task.instance
        if instance is not None and instance.status in WorkflowInstance.TERMINAL:
            # Closed with its workflow: say how the workflow ended, and why.
            return workflow_state(instance).message
        return f"This task was closed {when}: {task.closed_reason or 'its workflow ended'}."
    by = people.label(task.last_reassigned_by) or "Someone"
    to = people.label(task.assignee) or "nobody"
    when = _when(task.last_reassigned_at)
    kind = reassignment_kind(
        actor=task.last_reassigned_by,
        from_assignee=task.previous_assignee,
        to_assignee=task.assignee,
        to_is_group=task.assignee_group_id is not None or None,
    )
    if kind == "claim":
        return f"{by} claimed this task {when}."
    if kind == "release":
        return f"{by} released this task to {to} {when}."
    return f"{by} reassigned this task to {to} {when}."


def _when(at: datetime | None) -> str:
    if at is None:
        return "just now"
    return "at " + timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S %Z")


def _win(task: HumanTask) -> None:
    """The conditional update: it matches only if nobody acted since ``task`` was read.

    The fold's locks first (the keys ingest takes for this task's event, in its order): every
    writer of an instance's rows, people's actions and engines' batches alike, then takes
    the same locks before any row, so none waits for another in a circle (PostgreSQL)."""
    lock_instances([task.instance_id, task.task_id])
    won = HumanTask.objects.filter(
        pk=task.pk,
        status=HumanTask.Status.OPEN,
        version=task.version,
        assignee=task.assignee,
    ).update(version=F("version") + 1)
    if not won:
        raise TaskConflict(HumanTask.objects.get(pk=task.pk))


@transaction.atomic
def complete_task(
    *, task: HumanTask, user: User, form_data: dict[str, Any] | None, comment: str = ""
) -> HumanTask:
    """Complete a task as ``user``; exactly one of two simultaneous completions wins.

    Refused (``WorkflowNotActive``) while the task's workflow is paused, or once it ended.
    The data is checked against the task's schema here too, whatever door it came in by.
    """
    _check_text("comment", comment, COMMENT_MAX_LENGTH)
    _check_form_data(form_data)
    _refuse_unless_completable(task)
    if task.form_schema:
        errors = validation_errors(task.form_schema, form_data or {})
        if errors:
            raise InvalidFormData(errors)
    _win(task)
    # Again under the fold's lock (``_win`` took it; on SQLite the transaction holds the
    # write lock): a pause or cancel recorded meanwhile is seen here, or folds after this.
    _refuse_unless_completable(task)
    record_action(
        event=HumanTaskCompleted(
            instance_id=task.instance_id,
            timestamp=timezone.now(),
            step_name=task.step_name,
            task_id=task.task_id,
            completed_by=user.get_username(),
            form_data=form_data,
            comment=comment or None,
        ),
        actor=user.get_username(),
        action="complete",
    )
    return HumanTask.objects.get(pk=task.pk)


def _refuse_unless_completable(task: HumanTask) -> None:
    """The task's workflow must be running or waiting (read now, not from ``task``)."""
    instance = WorkflowInstance.objects.filter(instance_id=task.instance_id).first()
    if instance is not None and not workflow_state(instance).can_complete:
        raise WorkflowNotActive(instance)


def assignee_name(value: str) -> str:
    """Normalise a picker value: a known username or ``group:NAME``; refuse unknown names."""
    value = value.strip()
    user_id, group_id = resolve_assignees([value]).get(value, (None, None))
    if user_id is None and group_id is None:
        raise ActionRefused(f"No person or team is called {value!r}.")
    return value


@transaction.atomic
def reassign_task(
    *, task: HumanTask, user: User, to_assignee: str, reason: str, action: str = "reassign"
) -> HumanTask:
    """Hand a task to another person or team, with the reason they will read.

    ``action`` names the command for the engine: a claim and a release are reassignments too.
    """
    _check_text("to_assignee", to_assignee, ASSIGNEE_MAX_LENGTH)
    _check_text("reason", reason, REASON_MAX_LENGTH)
    to_assignee = assignee_name(to_assignee)
    if not reason.strip():
        raise ActionRefused("Say why you reassign this task.")
    if to_assignee == task.assignee:
        name = People.of([to_assignee]).label(to_assignee)
        raise ActionRefused(f"This task is already assigned to {name}.")
    _win(task)
    record_action(
        event=HumanTaskReassigned(
            instance_id=task.instance_id,
            timestamp=timezone.now(),
            step_name=task.step_name,
            task_id=task.task_id,
            from_assignee=task.assignee or None,
            to_assignee=to_assignee,
            reassigned_by=user.get_username(),
            reason=reason.strip(),
        ),
        actor=user.get_username(),
        action=action,
    )
    return HumanTask.objects.get(pk=task.pk)


def claim_task(*, task: HumanTask, user: User) -> HumanTask:
    """Take a task from a team queue: a reassignment from the group to me."""
    if task.assignee_group_id is None:
        raise ActionRefused("Only tasks in a team queue can be claimed.")
    group_name = group_label(task.assignee_group.name if task.assignee_group else task.assignee)
    return reassign_task(
        task=task,
        user=user,
        to_assignee=f"user:{user.get_username()}",
        reason=f"Claimed from the {group_name} queue",
        action="claim",
    )


def release_group(task: HumanTask) -> str | None:
    """The team a claimed task came from, if it came from one."""
    previous = task.previous_assignee
    if not previous or task.assignee_user_id is None:
        return None
    _, group_id = resolve_assignees([previous]).get(previous, (None, None))
    return previous if group_id is not None else None


def release_task(*, task: HumanTask, user: User) -> HumanTask:
    """Give a claimed task back to the team queue it came from."""
    group = release_group(task)
    if group is None:
        raise ActionRefused("This task did not come from a team queue.")
    return reassign_task(
        task=task, user=user, to_assignee=group, reason=RELEASE_REASON, action="release"
    )


# --- workflows: cancel, pause, resume ------------------------------------------------------

Status = WorkflowInstance.Status

# action -> the states it may start from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "cancel": (Status.RUNNING, Status.WAITING, Status.PAUSED),
    "pause": (Status.RUNNING, Status.WAITING),
    "resume": (Status.PAUSED,),
}
PAST = {"cancel": "canceled", "pause": "paused", "resume": "resumed"}


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


_LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def _action_time(instance: WorkflowInstance) -> datetime:
    """Now, or just after the instance's last event if that is later.

    The fold orders by timestamp: an action must sort after every event the admin saw, even
    if the engine's clock runs ahead of ours. A last event at the very end of the calendar
    (9999-12-31T23:59:59.999999Z) leaves no later instant: the action is refused.
    """
    now = timezone.now()
    last = instance.last_event_at
    if last is None or last < now:
        return now
    if last < _LAST_INSTANT - timedelta(milliseconds=1):
        return last + timedelta(milliseconds=1)
    if last < _LAST_INSTANT:
        return _LAST_INSTANT
    raise ActionRefused(
        f"This workflow's last event is dated {last.isoformat()}, the last instant there is: "
        "an action cannot be recorded after it. Ask the engine to correct that event."
    )


def _locked(instance_id: uuid.UUID, user: Any, action: str) -> WorkflowInstance:
    if not can_manage(user):
        raise PermissionDenied("managing workflows needs the manage_instances permission")
    lock_instances([instance_id])  # the fold's lock before the row, as every writer takes them
    instance = WorkflowInstance.objects.select_for_update().filter(instance_id=instance_id).first()
    if instance is None:
        raise ActionRefused("No workflow instance has this id.")
    if instance.status not in ALLOWED_FROM[action]:
        raise ActionRefused(_state_message(action, instance))
    return instance


def cancel_instance(*, instance_id: uuid.UUID, user: Any, reason: str) -> Event:
    """Cancel a running, waiting or paused workflow; its open tasks close with it."""
    _check_text("reason", reason or "", INSTANCE_REASON_MAX_LENGTH)
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
            action="cancel",
        )


def pause_instance(*, instance_id: uuid.UUID, user: Any, reason: str = "") -> Event:
    """Pause a running or waiting workflow at its current step."""
    _check_text("reason", reason or "", INSTANCE_REASON_MAX_LENGTH)
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
            action="pause",
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
            action="resume",
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
    is_instance_id: bool = True  # False for a value that is not a UUID: nothing to link to


def bulk_cancel(*, instance_ids: Iterable[str], user: Any, reason: str) -> list[BulkResult]:
    """Cancel each instance in its own transaction; one refusal does not stop the others."""
    if not can_manage(user):
        raise PermissionDenied("managing workflows needs the manage_instances permission")
    _check_text("reason", reason or "", INSTANCE_REASON_MAX_LENGTH)
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
            results.append(BulkResult(str(raw), False, "Not an instance id.", is_instance_id=False))
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


def route_task(*, task: HumanTask, user: User, to_assignee: str, reason: str = "") -> HumanTask:
    """Give an unrouted task (its assignee names no person and no team) someone to do it:
    the console's Unrouted triage, an admin's work. A reassignment like any other (an event,
    a command for the engine); without a reason, the new assignee reads why it came to them.
    Refused when the task has been routed or closed since it was read."""
    if not can_manage(user):
        raise PermissionDenied("routing tasks needs the manage_instances permission")
    if not task.is_open:
        raise TaskConflict(task)
    if task.assignee_user_id is not None or task.assignee_group_id is not None:
        raise ActionRefused(
            f"“{task}” is not unrouted any more: it is assigned to {task.assignee}."
        )
    if not reason.strip():
        named = f"“{task.assignee}”" if task.assignee else "no one"
        reason = f"Routed from Unrouted: its assignee {named} named no person or team."
    return reassign_task(task=task, user=user, to_assignee=to_assignee, reason=reason)
