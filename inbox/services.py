"""Writes. ``ingest_events`` is the one way data gets in; everything else calls it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from inbox import fastsql
from inbox.events import (
    EventError,
    HumanTaskCompleted,
    HumanTaskReassigned,
    ParsedEvent,
    WorkflowEvent,
    parse_event,
    to_wire_object,
)
from inbox.models import Event, HumanTask, OutboxCommand, dashboard_actor
from inbox.projections import Changes, EventRow, refold
from inbox.schemas import validation_errors

# Sent after the ingest transaction commits, with ``changes`` (projections.Changes).
events_ingested = Signal()


@dataclass(frozen=True, slots=True)
class EventResult:
    index: int
    event_id: uuid.UUID
    status: str  # "accepted" or "duplicate"
    warnings: tuple[str, ...] = ()


@dataclass
class IngestResult:
    results: list[EventResult]
    changes: Changes = field(default_factory=Changes)
    # The stored rows as values in ``_STORED`` order; ``events`` makes Event objects of them.
    stored: list[tuple[Any, ...]] = field(default_factory=list, repr=False)

    @property
    def events(self) -> list[Event]:
        """The Event rows this batch stored, in batch order (duplicates left out)."""
        events = []
        for row in self.stored:
            event = Event(**dict(zip(_STORED, row, strict=True)))
            event._state.adding, event._state.db = False, DEFAULT_DB_ALIAS  # as bulk_create
            events.append(event)
        return events

    @property
    def accepted(self) -> int:
        return sum(r.status == "accepted" for r in self.results)

    @property
    def duplicates(self) -> int:
        return sum(r.status == "duplicate" for r in self.results)


@dataclass(frozen=True, slots=True)
class IngestProblem:
    index: int | None
    field: str
    message: str


class IngestError(ValueError):
    """The batch was refused whole; ``problems`` names each event and field at fault."""

    def __init__(self, problems: list[IngestProblem]):
        self.problems = problems
        super().__init__(
            "; ".join(
                f"event {p.index}: {p.field or 'event'}: {p.message}"
                if p.index is not None
                else p.message
                for p in problems
            )
        )


def validate_batch(events: Sequence[Any]) -> list[ParsedEvent]:
    """Parse every event of a batch, collecting every problem before refusing any."""
    if not events:
        raise IngestError([IngestProblem(None, "", "the batch is empty: send at least one event")])
    parsed: list[ParsedEvent] = []
    problems: list[IngestProblem] = []
    for index, obj in enumerate(events):
        if isinstance(obj, ParsedEvent):
            parsed.append(obj)
            continue
        try:
            parsed.append(parse_event(obj))
        except EventError as exc:
            problems.extend(IngestProblem(index, e.field, e.message) for e in exc.errors)
    if problems:
        raise IngestError(problems)
    problems.extend(_task_ownership_problems(parsed))
    if problems:
        raise IngestError(problems)
    return parsed


_TASK_OWNERS = fastsql.table_of(Event, "task_id", "instance_id")


def _task_ownership_problems(parsed: list[ParsedEvent]) -> list[IngestProblem]:
    """A task belongs to one instance: refuse events that name it under another."""
    owner: dict[uuid.UUID, uuid.UUID] = {}
    problems = []
    task_events = [(i, p) for i, p in enumerate(parsed) if hasattr(p.event, "task_id")]
    if not task_events:
        return []
    stored: dict[uuid.UUID, uuid.UUID] = dict(
        fastsql.select_in(
            _TASK_OWNERS,
            "task_id",
            {p.event.task_id for _, p in task_events},  # type: ignore[attr-defined]
        )
    )
    for index, p in task_events:
        task_id = p.event.task_id  # type: ignore[attr-defined]
        expected = stored.get(task_id) or owner.setdefault(task_id, p.event.instance_id)
        if expected != p.event.instance_id:
            problems.append(
                IngestProblem(index, "task_id", f"task {task_id} belongs to instance {expected}")
            )
    return problems


def ingest_events(*, events: Sequence[Any], source: str) -> IngestResult:
    """Validate, dedupe and store a batch, then re-fold the instances it touched.

    All or nothing: a bad event refuses the batch (IngestError) and nothing is stored.
    """
    parsed = validate_batch(events)
    for attempt in range(3):
        try:
            with transaction.atomic():
                result = _store_and_fold(parsed, source)
            break
        except IntegrityError:
            # A concurrent ingest stored one of these events first; now they are duplicates.
            if attempt == 2:
                raise
    if result.changes.instances:
        changes = result.changes
        transaction.on_commit(lambda: events_ingested.send(sender=Event, changes=changes))
    return result


def _lock_instances(instance_ids: Sequence[uuid.UUID]) -> None:
    """Serialise folds of one instance (and claims on one task id) across concurrent
    transactions (PostgreSQL).

    SQLite takes its write lock when the transaction begins (IMMEDIATE mode).
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({uuid.UUID(str(i)).int & 0x7FFF_FFFF_FFFF_FFFF for i in instance_ids})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


_STORED = (
    "event_id",
    "event_id_given",
    "type",
    "instance_id",
    "task_id",
    "timestamp",
    "payload",
    "source",
    "actor",
    "received_at",
    "seq",
)
_EVENT_INSERT = fastsql.table_of(Event, *_STORED[:-1])
_EVENT_SEEN = fastsql.table_of(Event, "event_id", "type", "payload")


# The payload field naming the person behind an event of each type.
_ACTOR_FIELDS = {
    "WorkflowStarted": "user_id",
    "WorkflowCanceled": "canceled_by",
    "WorkflowResumed": "resumed_by",
    "HumanTaskCompleted": "completed_by",
    "HumanTaskReassigned": "reassigned_by",
}


def event_actor(type_name: str, payload: dict[str, Any], source: str) -> str:
    """Who did it: the signed-in person for dashboard actions, else whom the payload names."""
    named = payload.get(_ACTOR_FIELDS.get(type_name, ""))
    return dashboard_actor(source) or str(named or "")[:200]


def _store_and_fold(parsed: list[ParsedEvent], source: str) -> IngestResult:
    task_ids = [p.event.task_id for p in parsed if hasattr(p.event, "task_id")]  # type: ignore[attr-defined]
    _lock_instances([p.event.instance_id for p in parsed] + task_ids)
    if task_ids:
        # Checked again under the locks: two batches may name one new task under two
        # instances at once, and validate_batch saw neither.
        problems = _task_ownership_problems(parsed)
        if problems:
            raise IngestError(problems)
    seen: dict[uuid.UUID, tuple[str, dict[str, Any]]] = {
        event_id: (type_, payload)
        for event_id, type_, payload in fastsql.select_in(
            _EVENT_SEEN, "event_id", {p.event_id for p in parsed}
        )
    }
    results: list[EventResult] = []
    rows: list[tuple[Any, ...]] = []
    reused: list[IngestProblem] = []
    received_at = timezone.now()
    for index, p in enumerate(parsed):
        payload = p.payload()
        if p.event_id in seen:
            # A sender's own event_id naming different content would otherwise lose data.
            if p.event_id_given and seen[p.event_id] != (p.type, payload):
                reused.append(
                    IngestProblem(
                        index, "event_id", f"{p.event_id} was already used for a different event"
                    )
                )
            results.append(EventResult(index, p.event_id, "duplicate", p.warnings))
            continue
        seen[p.event_id] = (p.type, payload)
        results.append(EventResult(index, p.event_id, "accepted", p.warnings))
        event = p.event
        rows.append(
            (
                p.event_id,
                p.event_id_given,
                p.type,
                event.instance_id,
                getattr(event, "task_id", None),
                event.timestamp,
                payload,
                source,
                event_actor(p.type, payload, source),
                received_at,
            )
        )
    if reused:
        raise IngestError(reused)
    returned = fastsql.insert_returning(_EVENT_INSERT, rows, ["event_id", "seq"])
    seqs: dict[uuid.UUID, int] = dict(returned)  # type: ignore[arg-type]
    stored = [(*row, seqs[row[0]]) for row in rows]
    new_events: dict[uuid.UUID, list[EventRow]] = defaultdict(list)
    for event_id, _, type_, instance_id, _, timestamp, payload, _, _, _, seq in stored:
        new_events[instance_id].append(EventRow(seq, event_id, type_, timestamp, payload, source))
    changes = refold(new_events, new_events)
    return IngestResult(results=results, changes=changes, stored=stored)


def record_action(*, event: WorkflowEvent, actor: str) -> Event:
    """Record what a person did as the contract's event and queue it for the engine.

    The event goes through the same ingest path as an engine's; the outbox row is written
    in the same transaction, so the engine hears of exactly the actions that were stored.
    """
    wire = to_wire_object(event, event_id=uuid.uuid4())
    with transaction.atomic():
        result = ingest_events(events=[wire], source=f"dashboard:{actor}")
        stored = result.events[0]
        OutboxCommand.objects.create(
            event=stored, kind=stored.type, instance_id=stored.instance_id, payload=wire
        )
    return stored


# --- people's actions on tasks -------------------------------------------------------------


class TaskConflict(Exception):
    """Someone else changed the task first; the message says who did what and when."""

    def __init__(self, task: HumanTask):
        self.task = task
        super().__init__(describe_task_state(task))


class ActionRefused(Exception):
    """The action does not apply to this task (a rule, not a race)."""


class InvalidFormData(ActionRefused):
    """Form data that breaks the task's schema; ``errors`` are (field or None, message)."""

    def __init__(self, errors: list[tuple[str | None, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{f or 'form'}: {m}" for f, m in errors))


def describe_task_state(task: HumanTask) -> str:
    """One sentence on the task's current state, for people who lost a race."""
    when = _when(task.closed_at or task.last_reassigned_at)
    if task.status == HumanTask.Status.COMPLETED:
        return f"{task.completed_by or 'Someone'} already completed this task {when}."
    if task.status == HumanTask.Status.CANCELED:
        return f"This task was closed {when}: {task.closed_reason or 'its workflow ended'}."
    by = task.last_reassigned_by or "Someone"
    to = task.assignee or "nobody"
    return f"{by} reassigned this task to {to} {_when(task.last_reassigned_at)}."


def _when(at: datetime | None) -> str:
    if at is None:
        return "just now"
    return "at " + timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S %Z")


def _win(task: HumanTask) -> None:
    """The conditional update: it matches only if nobody acted since ``task`` was read."""
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

    The data is checked against the task's schema here too, whatever door it came in by.
    """
    if task.form_schema:
        errors = validation_errors(task.form_schema, form_data or {})
        if errors:
            raise InvalidFormData(errors)
    _win(task)
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
    )
    return HumanTask.objects.get(pk=task.pk)


def assignee_name(value: str) -> str:
    """Normalise a picker value: a known username or ``group:NAME``; refuse unknown names."""
    from inbox.projections import resolve_assignees

    value = value.strip()
    user_id, group_id = resolve_assignees([value]).get(value, (None, None))
    if user_id is None and group_id is None:
        raise ActionRefused(f"No person or team is called {value!r}.")
    return value


@transaction.atomic
def reassign_task(*, task: HumanTask, user: User, to_assignee: str, reason: str) -> HumanTask:
    """Hand a task to another person or team, with the reason they will read."""
    to_assignee = assignee_name(to_assignee)
    if not reason.strip():
        raise ActionRefused("Say why you reassign this task.")
    if to_assignee == task.assignee:
        raise ActionRefused(f"This task is already assigned to {to_assignee}.")
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
    )
    return HumanTask.objects.get(pk=task.pk)


def claim_task(*, task: HumanTask, user: User) -> HumanTask:
    """Take a task from a team queue: a reassignment from the group to me."""
    if task.assignee_group_id is None:
        raise ActionRefused("Only tasks in a team queue can be claimed.")
    group_name = task.assignee_group.name if task.assignee_group else task.assignee
    return reassign_task(
        task=task,
        user=user,
        to_assignee=f"user:{user.get_username()}",
        reason=f"Claimed from the {group_name} queue",
    )


def release_group(task: HumanTask) -> str | None:
    """The team a claimed task came from, if it came from one."""
    from inbox.projections import resolve_assignees

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
    return reassign_task(task=task, user=user, to_assignee=group, reason="Released to the queue")
