"""The API's request and response shapes; their names are the OpenAPI document's components.

No ``from __future__ import annotations`` here: django-ninja reads annotations at runtime.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import AfterValidator, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from workflows import actions, jsonvalues
from workflows.wire import parse_datetime

# An answer names at most this many problems: 100 000 bad items in a 200 KB body must not
# make a 9 MB answer.
MAX_REPORTED = 100


class ErrorItem(Schema):
    index: int | None = Field(description="Position of the event in the batch; null for the body")
    field: str
    message: str


class ErrorsOut(Schema):
    errors: list[ErrorItem] = Field(
        description=f"The first {MAX_REPORTED} problems, in order; ``more`` counts the rest"
    )
    more: int | SkipJsonSchema[None] = Field(
        None,
        description=f"Present when there were more than {MAX_REPORTED} problems: how many "
        "more there were, not listed",
    )


class ResultItem(Schema):
    index: int
    event_id: uuid.UUID
    status: str = Field(description="accepted or duplicate")
    warnings: list[str] = []


class IngestOut(Schema):
    accepted: int
    duplicates: int
    results: list[ResultItem]


class TaskOut(Schema):
    task_id: uuid.UUID
    instance_id: uuid.UUID
    workflow_name: str = Field("", alias="instance.workflow_name")
    step_name: str
    title: str
    description: str
    assignee: str
    assignee_user: str | None = Field(None, alias="assignee_user.username")
    assignee_group: str | None = Field(None, alias="assignee_group.name")
    status: str
    priority: int
    due_at: datetime | None
    created_at: datetime | None
    completed_at: datetime | None
    completed_by: str
    closed_reason: str
    form_schema: dict[str, Any] | None
    form_data: dict[str, Any] | None
    comment: str
    reassignment_count: int
    previous_assignee: str
    last_reassigned_at: datetime | None
    last_reassigned_by: str
    last_reassign_reason: str
    closed_at: datetime | None


class StepOut(Schema):
    step_name: str
    attempt: int
    step_type: str
    status: str
    engine_status: str = Field(description="The status the engine reported, lower-cased")
    input_data: dict[str, Any] | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    retry_count: int
    error: str
    error_type: str
    result: Any = None
    output_data: dict[str, Any] | None
    skip_reason: str


class InstanceOut(Schema):
    instance_id: uuid.UUID
    workflow_name: str
    workflow_version: str
    status: str
    current_step: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    initiator: str
    tenant_id: str
    event_count: int
    last_event_at: datetime | None


class TimelineEntry(Schema):
    seq: int
    event_id: uuid.UUID
    type: str
    timestamp: datetime
    received_at: datetime
    source: str
    payload: dict[str, Any]


class InstanceDetailOut(InstanceOut):
    initial_data: dict[str, Any] | None
    final_step: str
    error: str
    error_type: str
    failed_step: str
    stack_trace: str
    cancel_reason: str
    canceled_by: str
    engine_status: str = Field(description="The status the engine reported, lower-cased")
    first_event_at: datetime | None
    pause_reason: str
    paused_by: str
    paused_at: datetime | None
    resumed_by: str
    resumed_at: datetime | None
    steps: list[StepOut]
    tasks: list[TaskOut]
    timeline: list[TimelineEntry]


class DetailOut(Schema):
    detail: str


def _storable(value: str) -> str:
    # A filter no stored text can match (NUL, which PostgreSQL cannot even compare) is
    # refused, with the message every other door gives for it.
    problem = jsonvalues.text_problem(value)
    if problem:
        raise PydanticCustomError("storable_text", problem)
    return value


StorableText = Annotated[str, AfterValidator(_storable)]


class TaskFilters(Schema):
    assignee: StorableText | None = Field(None, description="Raw assignee, username or group name")
    status: StorableText | None = Field(None, description="open, completed or canceled")
    due_before: datetime | None = Field(None, description="ISO 8601; naive means UTC")
    due_after: datetime | None = Field(None, description="ISO 8601; naive means UTC")
    instance_id: uuid.UUID | None = None

    @field_validator("due_before", "due_after")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59-05:00 is past the last instant the database can compare.
        return None if value is None else parse_datetime(value)


class InstanceFilters(Schema):
    status: StorableText | None = None
    workflow: StorableText | None = None


class CompleteIn(Schema):
    form_data: dict[str, Any] | None = None
    comment: str = Field("", max_length=actions.COMMENT_MAX_LENGTH)


class ReassignIn(Schema):
    to_assignee: str = Field(
        description="A username, a team name, or user:/group: prefixed",
        max_length=actions.ASSIGNEE_MAX_LENGTH,
    )
    reason: str = Field(max_length=actions.REASON_MAX_LENGTH)


class ConflictOut(Schema):
    detail: str
    task: TaskOut
