"""Ingest, the one way data gets in: validate a batch, dedupe it, store it in the log and
re-fold the instances it touched, all in one transaction; ``events_ingested`` after commit.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from workflows import fastsql, metrics, notifications
from workflows.events import ACTOR_FIELDS
from workflows.fold import EventRow
from workflows.models import Event, dashboard_actor
from workflows.store import Changes, refold
from workflows.wire import EventError, ParsedEvent, parse_event

# Sent after the ingest transaction commits, with ``changes`` (store.Changes).
events_ingested = Signal()

# One record per committed batch (docs/architecture.md, "Operations"): with LOG_FORMAT=json
# one JSON line with its fields (``extra``), else a sentence.
batch_log = logging.getLogger("taskinbox.ingest")


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
    started = time.perf_counter()
    return ingest_parsed(validate_batch(events), source, started)


def ingest_parsed(parsed: list[ParsedEvent], source: str, started: float) -> IngestResult:
    """``ingest_events`` after ``validate_batch``; ``started`` is when the request began."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                result = _store_and_fold(parsed, [source] * len(parsed))
            break
        except IntegrityError:
            # A concurrent ingest stored one of these events first; now they are duplicates.
            if attempt == 2:
                raise
    seconds = time.perf_counter() - started
    if result.stored:
        # Counted once committed (a caller's outer transaction may still roll it back), and
        # before the broadcast, so the line and the counters do not wait for the live layer.
        transaction.on_commit(lambda: _committed(result, source, seconds))
    else:
        _committed(result, source, seconds)  # duplicates only: nothing to roll back
    if result.changes.instances:
        changes = result.changes
        transaction.on_commit(lambda: events_ingested.send(sender=Event, changes=changes))
    return result


def _committed(result: IngestResult, source: str, seconds: float) -> None:
    """Count a committed batch (``workflows.metrics``) and write its log line."""
    type_at = _STORED.index("type")
    metrics.record_ingest((row[type_at] for row in result.stored), seconds)
    batch_log.info(
        "ingest batch: %d events, %d stored, %d duplicates in %.1f ms from %s",
        len(result.results),
        result.accepted,
        result.duplicates,
        seconds * 1000,
        source,
        extra={
            "event": "ingest_batch",
            "events": len(result.results),
            "stored": result.accepted,
            "duplicates": result.duplicates,
            "duration_ms": round(seconds * 1000, 3),
            "source": source,
        },
    )


def lock_instances(instance_ids: Sequence[uuid.UUID]) -> None:
    """Serialise folds of one instance (and claims on one task id) across concurrent
    transactions (PostgreSQL); a person's action takes it too, before it reads the state it
    checks (``workflows.actions.complete_task``). Re-entrant within a transaction.

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


def event_actor(type_name: str, payload: dict[str, Any], source: str) -> str:
    """Who did it: the signed-in person for dashboard actions, else whom the payload names."""
    named = payload.get(ACTOR_FIELDS.get(type_name) or "")
    return dashboard_actor(source) or str(named or "")[:200]


def _assigning_events(stored: list[tuple[Any, ...]]) -> dict[uuid.UUID, notifications.Trigger]:
    """Per task, the last (in the fold's time order) of the batch's events that assign it."""
    last: dict[uuid.UUID, tuple[Any, ...]] = {}
    for event_id, _, type_, _, task_id, timestamp, _, _, actor, _, seq in stored:
        if task_id is not None and type_ in notifications.ASSIGNING_TYPES:
            key = (timestamp, seq, event_id, actor)
            if task_id not in last or key[:2] > last[task_id][:2]:
                last[task_id] = key
    return {t: notifications.Trigger(k[2], k[3]) for t, k in last.items()}


def _store_and_fold(parsed: list[ParsedEvent], sources: Sequence[str]) -> IngestResult:
    """Store and fold, in the caller's transaction; ``sources[i]`` sent ``parsed[i]``."""
    task_ids = [p.event.task_id for p in parsed if hasattr(p.event, "task_id")]  # type: ignore[attr-defined]
    lock_instances([p.event.instance_id for p in parsed] + task_ids)
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
                sources[index],
                event_actor(p.type, payload, sources[index]),
                received_at,
            )
        )
    if reused:
        raise IngestError(reused)
    returned = fastsql.insert_returning(_EVENT_INSERT, rows, ["event_id", "seq"])
    seqs: dict[uuid.UUID, int] = dict(returned)  # type: ignore[arg-type]
    stored = [(*row, seqs[row[0]]) for row in rows]
    new_events: dict[uuid.UUID, list[EventRow]] = defaultdict(list)
    for event_id, _, type_, instance_id, _, timestamp, payload, source, _, _, seq in stored:
        new_events[instance_id].append(EventRow(seq, event_id, type_, timestamp, payload, source))
    changes = refold(new_events, new_events)
    if changes.tasks:
        notifications.queue_assignment_emails(changes.tasks, _assigning_events(stored))
    return IngestResult(results=results, changes=changes, stored=stored)
