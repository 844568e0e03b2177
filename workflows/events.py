"""The event contract: the thirteen workflow domain event types.

The field names and meanings follow litestar-workflows' ``core.events`` module. Each type
also states its place in the fold's order (``rank``) and which field names the person
behind it (``actor_field``). Parsing the wire format is ``workflows.wire``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    instance_id: uuid.UUID
    timestamp: datetime

    # Facts about each type, beside its fields, so a new type is described in one place.
    # rank: the fold's order among events sharing a timestamp (causes before effects).
    rank: ClassVar[int] = 0
    # actor_field: the field naming the person behind the event, if the type has one.
    actor_field: ClassVar[str | None] = None


@dataclass(frozen=True, slots=True)
class WorkflowStarted(WorkflowEvent):
    rank: ClassVar[int] = 0
    actor_field: ClassVar[str] = "user_id"
    workflow_name: str
    workflow_version: str
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCompleted(WorkflowEvent):
    rank: ClassVar[int] = 8
    status: str
    final_step: str | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class WorkflowFailed(WorkflowEvent):
    rank: ClassVar[int] = 8
    error: str
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCanceled(WorkflowEvent):
    rank: ClassVar[int] = 8
    actor_field: ClassVar[str] = "canceled_by"
    reason: str
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowPaused(WorkflowEvent):
    rank: ClassVar[int] = 7
    reason: str | None = None
    paused_at_step: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowResumed(WorkflowEvent):
    rank: ClassVar[int] = 1
    actor_field: ClassVar[str] = "resumed_by"
    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass(frozen=True, slots=True)
class StepStarted(WorkflowEvent):
    rank: ClassVar[int] = 2
    step_name: str
    step_type: str
    input_data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepCompleted(WorkflowEvent):
    rank: ClassVar[int] = 6
    step_name: str
    status: str
    result: Any = None
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StepFailed(WorkflowEvent):
    rank: ClassVar[int] = 6
    step_name: str
    error: str
    error_type: str | None = None
    retry_count: int = 0


@dataclass(frozen=True, slots=True)
class StepSkipped(WorkflowEvent):
    rank: ClassVar[int] = 6
    step_name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskCreated(WorkflowEvent):
    rank: ClassVar[int] = 3
    step_name: str
    task_id: uuid.UUID
    assignee: str | None = None
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None
    # Not in the upstream dataclass; the wire format admits both (docs/architecture.md).
    form_schema: dict[str, Any] | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskCompleted(WorkflowEvent):
    rank: ClassVar[int] = 5
    actor_field: ClassVar[str] = "completed_by"
    step_name: str
    task_id: uuid.UUID
    completed_by: str
    form_data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskReassigned(WorkflowEvent):
    rank: ClassVar[int] = 4
    actor_field: ClassVar[str] = "reassigned_by"
    step_name: str
    task_id: uuid.UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    reassigned_by: str | None = None
    reason: str | None = None


EVENT_TYPES: dict[str, type[WorkflowEvent]] = {
    cls.__name__: cls
    for cls in (
        WorkflowStarted,
        WorkflowCompleted,
        WorkflowFailed,
        WorkflowCanceled,
        WorkflowPaused,
        WorkflowResumed,
        StepStarted,
        StepCompleted,
        StepFailed,
        StepSkipped,
        HumanTaskCreated,
        HumanTaskCompleted,
        HumanTaskReassigned,
    )
}

TASK_EVENT_TYPES = frozenset({"HumanTaskCreated", "HumanTaskCompleted", "HumanTaskReassigned"})
STEP_EVENT_TYPES = frozenset({"StepStarted", "StepCompleted", "StepFailed", "StepSkipped"})
TERMINAL_EVENT_TYPES = frozenset({"WorkflowCompleted", "WorkflowFailed", "WorkflowCanceled"})

# Order of events that share a timestamp: causes before effects, so the fold of a set
# of events does not depend on which arrived first.
TYPE_RANK = {name: cls.rank for name, cls in EVENT_TYPES.items()}
# The payload field naming the person behind an event of each type.
ACTOR_FIELDS = {name: cls.actor_field for name, cls in EVENT_TYPES.items() if cls.actor_field}


def fold_order(event: Any) -> tuple[datetime, int, str]:
    """The order of the fold, for anything with ``timestamp``, ``type`` and ``event_id``:
    time, then causes before effects, then the event id (never arrival, which differs
    between deliveries of the same events)."""
    return (event.timestamp, TYPE_RANK[event.type], str(event.event_id))
