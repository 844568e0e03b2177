"""Writes. ``ingest_events`` is the one way data gets in; everything else calls it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal

from inbox.events import EventError, ParsedEvent, WorkflowEvent, parse_event, to_wire_object
from inbox.models import Event, OutboxCommand
from inbox.projections import Changes, refold

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
    events: list[Event] = field(default_factory=list)

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


def _task_ownership_problems(parsed: list[ParsedEvent]) -> list[IngestProblem]:
    """A task belongs to one instance: refuse events that name it under another."""
    owner: dict[uuid.UUID, uuid.UUID] = {}
    problems = []
    task_events = [(i, p) for i, p in enumerate(parsed) if hasattr(p.event, "task_id")]
    if not task_events:
        return []
    stored = dict(
        Event.objects.filter(task_id__in={p.event.task_id for _, p in task_events})  # type: ignore[attr-defined]
        .values_list("task_id", "instance_id")
        .distinct()
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
    """Serialise folds of one instance across concurrent transactions (PostgreSQL).

    SQLite takes its write lock when the transaction begins (IMMEDIATE mode).
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({uuid.UUID(str(i)).int & 0x7FFF_FFFF_FFFF_FFFF for i in instance_ids})
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _store_and_fold(parsed: list[ParsedEvent], source: str) -> IngestResult:
    _lock_instances([p.event.instance_id for p in parsed])
    ids = [p.event_id for p in parsed]
    seen = set(Event.objects.filter(event_id__in=ids).values_list("event_id", flat=True))
    results: list[EventResult] = []
    rows: list[Event] = []
    for index, p in enumerate(parsed):
        if p.event_id in seen:
            results.append(EventResult(index, p.event_id, "duplicate", p.warnings))
            continue
        seen.add(p.event_id)
        results.append(EventResult(index, p.event_id, "accepted", p.warnings))
        rows.append(
            Event(
                event_id=p.event_id,
                event_id_given=p.event_id_given,
                type=p.type,
                instance_id=p.event.instance_id,
                task_id=getattr(p.event, "task_id", None),
                timestamp=p.event.timestamp,
                payload=p.payload(),
                source=source,
            )
        )
    Event.objects.bulk_create(rows)
    changes = refold({row.instance_id for row in rows})
    return IngestResult(results=results, changes=changes, events=rows)


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
