"""Reads the faces, the API and the live layer share: which tasks and instances a person
may see and act on (the visibility rule itself is ``HumanTaskQuerySet.for_user``), and an
instance's events and timeline.

Events follow the same rule, here and only here (``events_for``): a person sees an
instance's workflow and step events, and the task events of tasks they may see; another
person's task event is redacted to "a task at step X" (``workflows.timeline.redacted``).
Admins, managers and ingest tokens (``viewer=None``) see everything. Every reader of events,
pages, partials, live fragments, exports and the API, passes its viewer through here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from workflows.events import TASK_EVENT_TYPES, fold_order
from workflows.labels import People
from workflows.models import Event, HumanTask, OutboxCommand, WorkflowInstance
from workflows.outbox import command_state
from workflows.roles import can_manage, can_read
from workflows.timeline import Kind, TimelineEntry, named_people, redacted, timeline_entries

Person = User | AnonymousUser


def visible_instances(*, user: Person | None) -> QuerySet[WorkflowInstance]:
    """Instances a reader may see: all for tokens and managers, else those with their tasks."""
    qs = WorkflowInstance.objects.all()
    if user is None or can_read(user):
        return qs
    if not user.is_authenticated:
        return qs.none()
    task_instances = HumanTask.objects.for_user(user).values("instance_id")
    return qs.filter(instance_id__in=task_instances)


def may_act(user: Person, task: HumanTask) -> bool:
    """The assignee, members of the assignee group, and admins may act on an open task."""
    if not user.is_authenticated or not task.is_open:
        return False
    if can_manage(user):
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


def sees_every_event(viewer: Person | None) -> bool:
    """Admins, managers and ingest tokens (``None``) see every event whole."""
    return viewer is None or can_read(viewer)


def events_for(events: Iterable[Event], *, viewer: Person | None) -> list[Event]:
    """``events`` as ``viewer`` may see them, in the same order: the one rule for events.

    Workflow and step events are kept whole; a task event is kept whole only when its task
    is one ``viewer`` may see (``HumanTaskQuerySet.for_user``), else it is replaced by its
    redacted copy. ``viewer=None`` is an ingest token, which speaks for the engine.
    """
    events = list(events)
    if sees_every_event(viewer):
        return events
    assert viewer is not None
    task_ids = {e.task_id for e in events if e.type in TASK_EVENT_TYPES and e.task_id}
    mine: set[uuid.UUID] = set()
    if task_ids:
        mine = set(
            visible_tasks(user=viewer)
            .filter(task_id__in=task_ids)
            .values_list("task_id", flat=True)
        )
    return _redacted_except(events, mine)


def _redacted_except(events: list[Event], visible: set[uuid.UUID]) -> list[Event]:
    """Task events of tasks outside ``visible`` replaced by their redacted copies."""
    return [
        e if e.type not in TASK_EVENT_TYPES or (e.task_id and e.task_id in visible) else redacted(e)
        for e in events
    ]


def iter_events_for(
    events: QuerySet[Event], *, viewer: Person | None, chunk_size: int = 2000
) -> Iterator[Event]:
    """``events_for`` over a large queryset, read and redacted a chunk at a time."""
    batch: list[Event] = []
    for event in events.iterator(chunk_size=chunk_size):
        batch.append(event)
        if len(batch) >= chunk_size:
            yield from events_for(batch, viewer=viewer)
            batch = []
    yield from events_for(batch, viewer=viewer)


def _events_in_fold_order(instance_id: uuid.UUID) -> list[Event]:
    events = list(Event.objects.filter(instance_id=instance_id))
    events.sort(key=fold_order)
    return events


def instance_events(*, instance_id: uuid.UUID, viewer: Person | None) -> list[Event]:
    """Every event of an instance in fold order (timestamp, then causes before effects),
    as ``viewer`` may see them (``events_for``)."""
    return events_for(_events_in_fold_order(instance_id), viewer=viewer)


def instance_timeline(
    *, instance_id: uuid.UUID, viewer: Person | None, kinds: list[Kind] | None = None
) -> list[TimelineEntry]:
    """The instance's events as sentences, in fold order, optionally of some kinds only, as
    ``viewer`` may see them: another person's task reads "a task at step X"."""
    tasks = (HumanTask.objects.all() if viewer is None else visible_tasks(user=viewer)).filter(
        instance__instance_id=instance_id
    )
    titles = dict(tasks.values_list("task_id", "title"))
    events = _events_in_fold_order(instance_id)
    if not sees_every_event(viewer):
        # The tasks just read are the instance's tasks this viewer may see: the same rule
        # as events_for, without asking the database a second time.
        events = _redacted_except(events, set(titles))
    return timeline_entries(events, titles, kinds=kinds, names=timeline_people(events))


def timeline_people(events: Iterable[Event]) -> People:
    """The people and teams the sentences of ``events`` name, resolved in two queries (users,
    groups) whatever the number of events: full names, usernames on hover."""
    return People.of(named_people(events))


@dataclass(frozen=True, slots=True)
class CommandState:
    """An outbox command and the sentence the pages show for it."""

    command: OutboxCommand
    state: str

    @property
    def delivered(self) -> bool:
        return self.command.status == OutboxCommand.Status.DELIVERED


def latest_commands(
    *, task_id: uuid.UUID | None = None, instance_id: uuid.UUID | None = None, limit: int = 3
) -> list[CommandState]:
    """The newest commands for the engine about a task or an instance, newest first, each
    with where it is (``outbox.command_state``)."""
    qs = OutboxCommand.objects.all()
    if task_id is not None:
        qs = qs.filter(task_id=task_id)
    if instance_id is not None:
        qs = qs.filter(instance_id=instance_id)
    return [CommandState(c, command_state(c)) for c in qs.order_by("-id")[:limit]]


def outbox_commands(*, statuses: tuple[str, ...] | None = None) -> QuerySet[OutboxCommand]:
    """Commands for the console's outbox page, newest first (default: not yet delivered)."""
    wanted = statuses or (
        OutboxCommand.Status.PENDING,
        OutboxCommand.Status.FAILED,
        OutboxCommand.Status.DEAD,
    )
    return OutboxCommand.objects.filter(status__in=wanted).order_by("-id")
