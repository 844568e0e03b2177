"""CSV exports, streamed row by row so a million rows never sit in memory.

The machine columns (ids, names as the engine sent them, usernames, event types) are a
contract and keep their order; the human columns come after them, with the pages' labels
(``workflows.labels``): readable workflow and step names, people by full name, each event's
sentence. Their names are resolved a chunk at a time (one query for users, one for groups).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from workflows import fastsql
from workflows.labels import People, priority_label, step_label, workflow_label
from workflows.models import Event, HumanTask
from workflows.selectors import Person, iter_events_for, sees_every_event
from workflows.timeline import describe, named_people

CHUNK = 2000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = str(value) if not isinstance(value, int | float) else value
    # A spreadsheet would run a cell that starts like a formula (CSV injection).
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def stream_csv(
    *, filename: str, header: Sequence[str], queryset: QuerySet[Any], fields: Sequence[str]
) -> StreamingHttpResponse:
    """Stream ``fields`` of ``queryset`` as CSV, read in chunks with ``.iterator()``."""
    rows = queryset.values_list(*fields).iterator(chunk_size=CHUNK)
    return _response(filename, header, rows)


def _response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


INSTANCE_FIELDS = [
    ("instance_id", "instance_id"),
    ("workflow_name", "workflow"),
    ("workflow_version", "version"),
    ("status", "status"),
    ("current_step", "current_step"),
    ("initiator", "initiator"),
    ("tenant_id", "tenant"),
    ("started_at", "started_at"),
    ("ended_at", "ended_at"),
    ("duration_seconds", "duration_seconds"),
    ("error_type", "error_type"),
    ("error", "error"),
    ("failed_step", "failed_step"),
    ("event_count", "event_count"),
]

TASK_FIELDS = [
    ("task_id", "task_id"),
    ("instance_id", "instance_id"),
    ("instance__workflow_name", "workflow"),
    ("step_name", "step"),
    ("title", "title"),
    ("status", "status"),
    ("assignee", "assignee"),
    ("created_at", "created_at"),
    ("due_at", "due_at"),
    ("completed_at", "completed_at"),
    ("completed_by", "completed_by"),
    ("reassignment_count", "reassignments"),
    ("last_reassigned_by", "last_reassigned_by"),
    ("comment", "comment"),
]

# Human columns, after the machine ones: (header, the machine fields it reads, how).
Human = list[tuple[str, list[str], Callable[..., Any]]]


def _person(people: People, raw: Any) -> str:
    return people.label(raw) if raw else ""


INSTANCE_HUMAN: Human = [
    ("workflow_label", ["workflow_name"], lambda p, name: workflow_label(name)),
    ("current_step_label", ["current_step"], lambda p, step: step_label(step)),
    ("initiator_name", ["initiator"], _person),
]

TASK_HUMAN: Human = [
    ("workflow_label", ["instance__workflow_name"], lambda p, name: workflow_label(name)),
    ("step_label", ["step_name"], lambda p, step: step_label(step)),
    ("assignee_name", ["assignee"], _person),
    ("completed_by_name", ["completed_by"], _person),
    ("last_reassigned_by_name", ["last_reassigned_by"], _person),
    ("priority_label", ["priority"], lambda p, value: priority_label(value)),
]

# Fields whose values name people, resolved a chunk at a time.
PEOPLE_FIELDS = {"initiator", "assignee", "completed_by", "last_reassigned_by"}

EVENT_FIELDS = [
    ("seq", "seq"),
    ("event_id", "event_id"),
    ("type", "type"),
    ("instance_id", "instance_id"),
    ("task_id", "task_id"),
    ("timestamp", "timestamp"),
    ("source", "source"),
    ("received_at", "received_at"),
    ("payload", "payload"),
]


def export_events(
    *, queryset: QuerySet[Event], viewer: Person, stamp: datetime
) -> StreamingHttpResponse:
    """The events as ``viewer`` may see them (``workflows.selectors.events_for``): whole
    rows read as values for those who see everything, else redacted event by event. After
    the machine columns, ``description``: the event's timeline sentence, as pages say it."""
    names = [name for name, _ in EVENT_FIELDS]
    events: Iterable[Event]
    if sees_every_event(viewer):
        rows = queryset.values_list(*names).iterator(chunk_size=CHUNK)
        events = (Event(**dict(zip(names, row, strict=True))) for row in rows)
    else:
        events = iter_events_for(queryset, viewer=viewer, chunk_size=CHUNK)
    return _response(
        f"events-{stamp:%Y%m%d-%H%M%S}.csv",
        [*(label for _, label in EVENT_FIELDS), "description"],
        _described(events, names),
    )


def _described(events: Iterable[Event], names: list[str]) -> Iterator[list[Any]]:
    """Each event's machine cells and its sentence; names and task titles read per chunk."""
    for batch in _chunks(events):
        people = People.of(named_people(batch))
        task_ids = {e.task_id for e in batch if e.task_id}
        titles: dict[Any, str] = dict(
            fastsql.select_in(fastsql.table_of(HumanTask, "task_id", "title"), "task_id", task_ids)
        )
        for event in batch:
            sentence = describe(event, titles, people).sentence
            yield [*(getattr(event, name) for name in names), sentence]


def _chunks(rows: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _with_human(
    rows: Iterable[Sequence[Any]], names: list[str], human: Human
) -> Iterator[list[Any]]:
    """Each machine row followed by its human cells; names resolved a chunk at a time."""
    index = {name: i for i, name in enumerate(names)}
    people_at = [index[f] for f in PEOPLE_FIELDS if f in index]
    for batch in _chunks(rows):
        people = People.of(row[i] for row in batch for i in people_at)
        for row in batch:
            cells = [how(people, *(row[index[f]] for f in reads)) for _, reads, how in human]
            yield [*row, *cells]


def export(
    *,
    kind: str,
    queryset: QuerySet[Any],
    fields: list[tuple[str, str]],
    stamp: datetime,
    human: Human | None = None,
) -> StreamingHttpResponse:
    if not human:
        return stream_csv(
            filename=f"{kind}-{stamp:%Y%m%d-%H%M%S}.csv",
            header=[label for _, label in fields],
            queryset=queryset,
            fields=[name for name, _ in fields],
        )
    machine = [name for name, _ in fields]
    # Fields a human column reads that the machine columns do not hold are read too, then
    # left out of the row.
    extra = [f for _, reads, _ in human for f in reads if f not in machine]
    names = [*machine, *dict.fromkeys(extra)]
    rows = queryset.values_list(*names).iterator(chunk_size=CHUNK)
    header = [*(label for _, label in fields), *(label for label, _, _ in human)]
    return _response(
        f"{kind}-{stamp:%Y%m%d-%H%M%S}.csv",
        header,
        ([*row[: len(machine)], *row[len(names) :]] for row in _with_human(rows, names, human)),
    )
