"""Small builders of wire events for the console's tests (and quick local data).

Each returns a wire object as an engine would send it; ``ingest`` stores them through the
real ingest path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: float = 0, *, base: datetime = T0) -> str:
    return (base + timedelta(minutes=minutes)).isoformat()


def ev(type_: str, instance_id: uuid.UUID, minutes: float, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": type_,
        "event_id": str(uuid.uuid4()),
        "instance_id": str(instance_id),
        "timestamp": at(minutes),
    }
    obj.update({k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in fields.items()})
    return obj


def started(iid: uuid.UUID, m: float = 0, **kw: Any) -> dict[str, Any]:
    kw.setdefault("workflow_name", "expense_approval")
    kw.setdefault("workflow_version", "1.0")
    return ev("WorkflowStarted", iid, m, **kw)


def completed(iid: uuid.UUID, m: float, **kw: Any) -> dict[str, Any]:
    kw.setdefault("status", "COMPLETED")
    return ev("WorkflowCompleted", iid, m, **kw)


def failed(iid: uuid.UUID, m: float, **kw: Any) -> dict[str, Any]:
    kw.setdefault("error", "boom")
    return ev("WorkflowFailed", iid, m, **kw)


def step_started(iid: uuid.UUID, m: float, step: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("step_type", "MACHINE")
    return ev("StepStarted", iid, m, step_name=step, **kw)


def step_completed(iid: uuid.UUID, m: float, step: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("status", "SUCCEEDED")
    return ev("StepCompleted", iid, m, step_name=step, **kw)


def step_failed(iid: uuid.UUID, m: float, step: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("error", "Connection timeout")
    return ev("StepFailed", iid, m, step_name=step, **kw)


def task_created(
    iid: uuid.UUID, m: float, step: str, task_id: uuid.UUID, **kw: Any
) -> dict[str, Any]:
    return ev("HumanTaskCreated", iid, m, step_name=step, task_id=task_id, **kw)


def task_completed(
    iid: uuid.UUID, m: float, step: str, task_id: uuid.UUID, by: str, **kw: Any
) -> dict[str, Any]:
    return ev("HumanTaskCompleted", iid, m, step_name=step, task_id=task_id, completed_by=by, **kw)


def task_reassigned(
    iid: uuid.UUID, m: float, step: str, task_id: uuid.UUID, **kw: Any
) -> dict[str, Any]:
    return ev("HumanTaskReassigned", iid, m, step_name=step, task_id=task_id, **kw)


def ingest(events: Sequence[dict[str, Any]], source: str = "token:test") -> None:
    from workflows.ingest import ingest_events

    ingest_events(events=list(events), source=source)


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
