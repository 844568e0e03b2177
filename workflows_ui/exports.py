"""CSV exports, streamed row by row so a million rows never sit in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from workflows.models import Event
from workflows.selectors import Person, iter_events_for, sees_every_event

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
    rows read as values for those who see everything, else redacted event by event."""
    names = [name for name, _ in EVENT_FIELDS]
    rows: Iterable[Sequence[Any]]
    if sees_every_event(viewer):
        rows = queryset.values_list(*names).iterator(chunk_size=CHUNK)
    else:
        events = iter_events_for(queryset, viewer=viewer, chunk_size=CHUNK)
        rows = ([getattr(e, name) for name in names] for e in events)
    return _response(
        f"events-{stamp:%Y%m%d-%H%M%S}.csv", [label for _, label in EVENT_FIELDS], rows
    )


def export(
    *, kind: str, queryset: QuerySet[Any], fields: list[tuple[str, str]], stamp: datetime
) -> StreamingHttpResponse:
    return stream_csv(
        filename=f"{kind}-{stamp:%Y%m%d-%H%M%S}.csv",
        header=[label for _, label in fields],
        queryset=queryset,
        fields=[name for name, _ in fields],
    )
