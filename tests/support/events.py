"""The one module of wire-event builders (the dicts an engine POSTs) for every test.

Each builder takes the instance id and timestamp first, fills the other required fields
with sensible defaults, and lets keyword overrides replace or add anything (``None`` values
are sent as JSON ``null``). Timestamps may be datetimes, ISO strings, or minutes after
``BASE_TIME`` (see ``at``).

Two forms:

- the full names (``workflow_started``, ``human_task_created``, ...) send no ``event_id``,
  so ingest derives one from the content (the same event sent twice is one event);
- the short positional forms (``started``, ``task_created(iid, minutes, step, task_id)``,
  ``ev(type, iid, minutes, **fields)``, ...) are the same events with an ``event_id`` of
  their own, so a test can find the stored row again. The step builders have one form.

``ingest`` stores events through the real ingest service; ``waiting_instance`` makes an
instance waiting on one open task.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.test import Client

BASE_TIME = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

Timestamp = datetime | str | int | float


def at(minutes: float) -> datetime:
    """A timestamp ``minutes`` after BASE_TIME."""
    return BASE_TIME + timedelta(minutes=minutes)


def iso(ts: Timestamp) -> str:
    """Wire form of a timestamp: datetimes and minute offsets become ISO 8601 strings."""
    if isinstance(ts, str):
        return ts
    if isinstance(ts, int | float):
        ts = at(ts)
    return ts.isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


def _event(type_name: str, instance_id: Any, ts: Timestamp, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": type_name, "instance_id": str(instance_id), "timestamp": iso(ts)}
    for key, value in fields.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        obj[key] = value
    return obj


def workflow_started(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    fields = {"workflow_name": "expense_approval", "workflow_version": "1.0.0", **overrides}
    return _event("WorkflowStarted", instance_id, ts, **fields)


def workflow_completed(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _event("WorkflowCompleted", instance_id, ts, **{"status": "COMPLETED", **overrides})


def workflow_failed(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _event("WorkflowFailed", instance_id, ts, **{"error": "it broke", **overrides})


def workflow_canceled(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _event("WorkflowCanceled", instance_id, ts, **{"reason": "withdrawn", **overrides})


def workflow_paused(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _event("WorkflowPaused", instance_id, ts, **overrides)


def workflow_resumed(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _event("WorkflowResumed", instance_id, ts, **overrides)


def step_started(
    instance_id: Any, ts: Timestamp = 0, step_name: str = "validate", **overrides: Any
) -> dict[str, Any]:
    fields = {"step_name": step_name, "step_type": "MACHINE", **overrides}
    return _event("StepStarted", instance_id, ts, **fields)


def step_completed(
    instance_id: Any, ts: Timestamp = 0, step_name: str = "validate", **overrides: Any
) -> dict[str, Any]:
    fields = {"step_name": step_name, "status": "SUCCEEDED", **overrides}
    return _event("StepCompleted", instance_id, ts, **fields)


def step_failed(
    instance_id: Any, ts: Timestamp = 0, step_name: str = "validate", **overrides: Any
) -> dict[str, Any]:
    fields = {"step_name": step_name, "error": "timeout", **overrides}
    return _event("StepFailed", instance_id, ts, **fields)


def step_skipped(
    instance_id: Any, ts: Timestamp = 0, step_name: str = "notify", **overrides: Any
) -> dict[str, Any]:
    return _event("StepSkipped", instance_id, ts, **{"step_name": step_name, **overrides})


def _task_event(
    type_name: str,
    instance_id: Any,
    ts: Timestamp,
    task_id: Any,
    step_name: str,
    defaults: dict[str, Any],
    overrides: dict[str, Any],
) -> dict[str, Any]:
    fields = {
        "step_name": step_name,
        "task_id": new_id() if task_id is None else task_id,
        **defaults,
        **overrides,
    }
    return _event(type_name, instance_id, ts, **fields)


def human_task_created(
    instance_id: Any,
    ts: Timestamp = 0,
    task_id: Any = None,
    step_name: str = "approve",
    **overrides: Any,
) -> dict[str, Any]:
    defaults = {"assignee": "alice", "title": "Approve expense report"}
    return _task_event("HumanTaskCreated", instance_id, ts, task_id, step_name, defaults, overrides)


def human_task_completed(
    instance_id: Any,
    ts: Timestamp = 0,
    task_id: Any = None,
    step_name: str = "approve",
    **overrides: Any,
) -> dict[str, Any]:
    defaults = {"completed_by": "alice"}
    return _task_event(
        "HumanTaskCompleted", instance_id, ts, task_id, step_name, defaults, overrides
    )


def human_task_reassigned(
    instance_id: Any,
    ts: Timestamp = 0,
    task_id: Any = None,
    step_name: str = "approve",
    **overrides: Any,
) -> dict[str, Any]:
    defaults = {"to_assignee": "bob"}  # from_assignee is optional: pass it to send it
    return _task_event(
        "HumanTaskReassigned", instance_id, ts, task_id, step_name, defaults, overrides
    )


BUILDERS = {
    "WorkflowStarted": workflow_started,
    "WorkflowCompleted": workflow_completed,
    "WorkflowFailed": workflow_failed,
    "WorkflowCanceled": workflow_canceled,
    "WorkflowPaused": workflow_paused,
    "WorkflowResumed": workflow_resumed,
    "StepStarted": step_started,
    "StepCompleted": step_completed,
    "StepFailed": step_failed,
    "StepSkipped": step_skipped,
    "HumanTaskCreated": human_task_created,
    "HumanTaskCompleted": human_task_completed,
    "HumanTaskReassigned": human_task_reassigned,
}


def one_of_each(instance_id: Any, task_id: Any = None) -> list[dict[str, Any]]:
    """One valid event of every type for one instance (a task's events share task_id)."""
    task_id = task_id or new_id()
    return [
        build(instance_id, minute, task_id=task_id)
        if build in (human_task_created, human_task_completed, human_task_reassigned)
        else build(instance_id, minute)
        for minute, build in enumerate(BUILDERS.values())
    ]


def post_events(client: Client, body: Any, **extra: Any) -> Any:
    """POST a body (one event, a list, or {"events": [...]}) as JSON to /api/events."""
    return client.post("/api/events", body, content_type="application/json", **extra)


def ingest(events: Iterable[dict[str, Any]], source: str = "test") -> Any:
    """Ingest wire events through the service, as the API would."""
    from workflows.ingest import ingest_events

    return ingest_events(events=list(events), source=source)


def snapshot(instance_id: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Every projection column (but auto ids and updated_at) of one instance, or of all.

    Rows are sorted by their natural keys, so two snapshots compare equal exactly when a
    client could not tell the projections apart.
    """
    from workflows.models import HumanTask, StepRun, WorkflowInstance

    skip = {"id", "updated_at"}
    scope = {} if instance_id is None else {"instance_id": instance_id}

    def rows(qs: Any, key: Any) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in r.items() if k not in skip} for r in qs.values()), key=key)

    return {
        "instances": rows(
            WorkflowInstance.objects.filter(**scope), lambda r: str(r["instance_id"])
        ),
        "steps": rows(
            StepRun.objects.filter(**scope),
            lambda r: (str(r["instance_id"]), r["step_name"], r["attempt"]),
        ),
        "tasks": rows(HumanTask.objects.filter(**scope), lambda r: str(r["task_id"])),
    }


# --- Short positional forms, each with an event_id of its own ------------------------------


def _with_id(obj: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": new_id(), **obj}


def ev(type_name: str, instance_id: Any, ts: Timestamp, **fields: Any) -> dict[str, Any]:
    """Any event type with exactly the fields given (and an event_id)."""
    return _with_id(_event(type_name, instance_id, ts, **fields))


def started(instance_id: Any, ts: Timestamp = 0, **overrides: Any) -> dict[str, Any]:
    return _with_id(workflow_started(instance_id, ts, **overrides))


def completed(instance_id: Any, ts: Timestamp, **overrides: Any) -> dict[str, Any]:
    return _with_id(workflow_completed(instance_id, ts, **overrides))


def failed(instance_id: Any, ts: Timestamp, **overrides: Any) -> dict[str, Any]:
    return _with_id(workflow_failed(instance_id, ts, **overrides))


def task_created(
    instance_id: Any, ts: Timestamp, step: str, task_id: Any, **overrides: Any
) -> dict[str, Any]:
    return _with_id(human_task_created(instance_id, ts, task_id, step, **overrides))


def task_completed(
    instance_id: Any, ts: Timestamp, step: str, task_id: Any, by: str, **overrides: Any
) -> dict[str, Any]:
    return _with_id(
        human_task_completed(instance_id, ts, task_id, step, completed_by=by, **overrides)
    )


def task_reassigned(
    instance_id: Any, ts: Timestamp, step: str, task_id: Any, **overrides: Any
) -> dict[str, Any]:
    return _with_id(human_task_reassigned(instance_id, ts, task_id, step, **overrides))


def waiting_instance(
    *, assignee: str = "alice", title: str = "Approve expense report", m: float = 0, **kw: Any
) -> tuple[uuid.UUID, uuid.UUID]:
    """Ingest an instance waiting on one open task; return (instance id, task id)."""
    iid, tid = uuid.uuid4(), uuid.uuid4()
    ingest(
        [
            started(iid, m, user_id="alice", **kw),
            step_started(iid, m + 1, "approve", step_type="HUMAN"),
            task_created(iid, m + 1, "approve", tid, assignee=assignee, title=title),
        ]
    )
    return iid, tid
