"""The JSON API: ``POST /api/events`` (the ingest door), the read endpoints and people's
actions on tasks. It depends on the core (``workflows``) only.

No ``from __future__ import annotations`` here: django-ninja reads annotations at runtime.
"""

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import HttpBearer, SessionAuth

from api import selectors
from workflows import actions
from workflows import selectors as core
from workflows.ingest import IngestError, ingest_events
from workflows.models import HumanTask, IngestToken, TokenScope
from workflows.roles import can_read


class MissingScope(Exception):
    """A valid token without the scope this endpoint needs (403)."""

    def __init__(self, token: IngestToken, scope: str):
        super().__init__(scope)
        self.token, self.scope = token, scope


class TokenAuth(HttpBearer):
    """An ingest token that carries ``scope``; a valid token without it is refused with 403
    (the request is authenticated, just not allowed), naming the missing scope."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> IngestToken | None:
        found = IngestToken.authenticate(token)
        if found is None:
            return None
        now = timezone.now()
        # A write per request would serialise every request on SQLite's one writer; a
        # last-used time to the minute is all the admin page needs.
        if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
            IngestToken.objects.filter(pk=found.pk).update(last_used_at=now)
        if not found.has_scope(self.scope):
            raise MissingScope(found, self.scope)
        return found


LAST_USED_RESOLUTION = timedelta(minutes=1)


class StableIdsAPI(NinjaAPI):
    """Operation ids are part of the published OpenAPI document that engines generate
    clients from: they keep the names minted when this module was ``inbox/api.py``."""

    def get_openapi_operation_id(self, operation: Any) -> str:
        return f"inbox_api_{operation.view_func.__name__}"


api = StableIdsAPI(
    title="Task inbox API",
    version="1.0",
    description="Workflow engines send domain events; people and tools read tasks and instances.",
    urls_namespace="api",
)
# Every route names its auth: a token with a scope, a signed-in person, or either.
# (tests/api/test_token_scopes.py checks every route of this router against each scope.)
write_auth = TokenAuth(TokenScope.EVENTS_WRITE.value)
read_auth = [TokenAuth(TokenScope.READ.value), SessionAuth()]
person_auth = SessionAuth()


# --- schemas -------------------------------------------------------------------------------


class ErrorItem(Schema):
    index: int | None = Field(description="Position of the event in the batch; null for the body")
    field: str
    message: str


class ErrorsOut(Schema):
    errors: list[ErrorItem]


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


class TaskFilters(Schema):
    assignee: str | None = Field(None, description="Raw assignee, username or group name")
    status: str | None = Field(None, description="open, completed or canceled")
    due_before: datetime | None = None
    due_after: datetime | None = None
    instance_id: uuid.UUID | None = None


class InstanceFilters(Schema):
    status: str | None = None
    workflow: str | None = None


# --- ingest --------------------------------------------------------------------------------

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "description": "One event"},
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "properties": {
                                "events": {"type": "array", "items": {"type": "object"}}
                            },
                        },
                    ]
                },
                "example": {
                    "type": "HumanTaskCreated",
                    "instance_id": "2b0d6f3e-0a53-4c6c-9f43-8a3a6d8b9e01",
                    "timestamp": "2026-11-25T09:00:00Z",
                    "step_name": "manager_approval",
                    "task_id": "7f7c7d54-3f0c-4d6b-a0f8-91f8f4e1c2aa",
                    "assignee": "managers",
                    "title": "Approve expense report",
                },
            }
        },
    }
}


def _errors(status: int, problems: list[dict[str, Any]]) -> JsonResponse:
    return JsonResponse({"errors": problems}, status=status)


def _body_error(status: int, message: str) -> JsonResponse:
    return _errors(status, [{"index": None, "field": "", "message": message}])


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    # Say which problem it is, in the same shape as every other refusal.
    if request.META.get("HTTP_AUTHORIZATION"):
        message = "the bearer token is not valid: unknown, revoked or malformed"
    else:
        message = "authentication required: send Authorization: Bearer <token>, or sign in"
    response = _errors(401, [{"index": None, "field": "Authorization", "message": message}])
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(MissingScope)
def _missing_scope(request: HttpRequest, exc: MissingScope) -> HttpResponse:
    message = (
        f"the token {exc.token.name!r} lacks the scope {exc.scope!r} this endpoint needs "
        f"(it has: {', '.join(exc.token.scopes) or 'none'})"
    )
    response = _errors(403, [{"index": None, "field": "Authorization", "message": message}])
    response["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{exc.scope}"'
    return response


def _batch_from_body(data: Any) -> list[Any] | JsonResponse:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and "events" in data and "type" not in data:
        if not isinstance(data["events"], list):
            return _errors(
                422, [{"index": None, "field": "events", "message": "expected an array of events"}]
            )
        return data["events"]
    if isinstance(data, dict):
        return [data]
    return _body_error(422, 'expected an event object, an array of events or {"events": [...]}')


@api.post(
    "/events",
    auth=write_auth,
    response={200: IngestOut, 401: ErrorsOut, 413: ErrorsOut, 415: ErrorsOut, 422: ErrorsOut},
    openapi_extra=_BODY_DOC,
    summary='Ingest events (one, an array, or {"events": [...]}); all or nothing',
)
def post_events(request: HttpRequest) -> Any:
    limit = settings.INGEST_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _body_error(413, f"the body is {declared} bytes; the limit is {limit}")
    content_type = (request.content_type or "").lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return _body_error(415, f"send Content-Type: application/json, not {content_type!r}")
    body = request.body
    if len(body) > limit:
        return _body_error(413, f"the body is {len(body)} bytes; the limit is {limit}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _body_error(415, f"the body is not valid JSON: {exc}")
    batch = _batch_from_body(data)
    if isinstance(batch, HttpResponse):
        return batch
    token: IngestToken = request.auth  # type: ignore[attr-defined]
    try:
        result = ingest_events(events=batch, source=f"token:{token.name}")
    except IngestError as exc:
        return _errors(
            422, [{"index": p.index, "field": p.field, "message": p.message} for p in exc.problems]
        )
    # IngestOut's shape, built here from our own values: ninja's response validation of
    # every result (a pydantic model each) was 7 % of a batch's time.
    return JsonResponse(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "results": [
                {
                    "index": r.index,
                    "event_id": str(r.event_id),
                    "status": r.status,
                    "warnings": list(r.warnings),
                }
                for r in result.results
            ],
        }
    )


# --- reads ---------------------------------------------------------------------------------


def _reader(request: HttpRequest) -> Any:
    """A token sees everything (it speaks for an engine); a person sees what is theirs."""
    return None if isinstance(request.auth, IngestToken) else request.user  # type: ignore[attr-defined]


@api.get("/tasks", auth=read_auth, response=list[TaskOut], summary="Tasks, newest first")
@paginate(LimitOffsetPagination)
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> Any:
    return selectors.api_task_list(user=_reader(request), filters=filters.dict(exclude_none=True))


@api.get("/instances", auth=read_auth, response=list[InstanceOut], summary="Workflow instances")
@paginate(LimitOffsetPagination)
def list_instances(request: HttpRequest, filters: Query[InstanceFilters]) -> Any:
    return selectors.api_instance_list(
        user=_reader(request), filters=filters.dict(exclude_none=True)
    )


@api.get(
    "/instances/{instance_id}",
    auth=read_auth,
    response=InstanceDetailOut,
    summary="One instance: its projection and its ordered timeline",
)
def get_instance(request: HttpRequest, instance_id: uuid.UUID) -> Any:
    instance = get_object_or_404(
        selectors.api_instance_list(user=_reader(request), filters={}), instance_id=instance_id
    )
    nested = ("steps", "tasks", "timeline")
    reader = _reader(request)
    tasks = instance.tasks.select_related("assignee_user", "assignee_group", "instance")
    timeline = core.instance_events(instance_id=instance.instance_id)
    if reader is not None and not can_read(reader):
        # A person sees this instance for a task of theirs; other people's tasks stay private.
        tasks = tasks.filter(pk__in=core.visible_tasks(user=reader).values("pk"))
        mine = {t.task_id for t in tasks}
        timeline = [e for e in timeline if e.task_id is None or e.task_id in mine]
    return {
        **{k: getattr(instance, k) for k in InstanceDetailOut.model_fields if k not in nested},
        "steps": list(instance.steps.all()),
        "tasks": list(tasks),
        "timeline": timeline,
    }


# --- people's actions ----------------------------------------------------------------------


class CompleteIn(Schema):
    form_data: dict[str, Any] | None = None
    comment: str = ""


class ReassignIn(Schema):
    to_assignee: str = Field(description="A username, a team name, or user:/group: prefixed")
    reason: str


class ConflictOut(Schema):
    detail: str
    task: TaskOut


class DetailOut(Schema):
    detail: str


def _person(request: HttpRequest) -> User:
    """The signed-in person (SessionAuth has already refused anyone else)."""
    return cast(User, request.user)


def _actionable_task(request: HttpRequest, task_id: uuid.UUID) -> HumanTask:
    return core.actionable_task(user=_person(request), task_id=task_id)


def _act(request: HttpRequest, task: HumanTask, action: Callable[[], HumanTask]) -> Any:
    if not task.is_open:
        return Status(409, {"detail": actions.describe_task_state(task), "task": task})
    try:
        action()
    except actions.TaskConflict as exc:
        return Status(409, {"detail": str(exc), "task": exc.task})
    except actions.InvalidFormData as exc:
        errors = [{"index": None, "field": f or "", "message": m} for f, m in exc.errors]
        return Status(422, {"errors": errors})
    except actions.ActionRefused as exc:
        return Status(422, {"errors": [{"index": None, "field": "", "message": str(exc)}]})
    related = ("instance", "assignee_user", "assignee_group")
    return Status(200, HumanTask.objects.select_related(*related).get(pk=task.pk))


_ACTION_RESPONSES = {200: TaskOut, 404: DetailOut, 409: ConflictOut, 422: ErrorsOut}


@api.post(
    "/tasks/{task_id}/complete",
    auth=person_auth,
    response=_ACTION_RESPONSES,
    summary="Complete a task as the signed-in person; 409 if someone acted first",
)
def complete(request: HttpRequest, task_id: uuid.UUID, body: CompleteIn) -> Any:
    task = _actionable_task(request, task_id)
    return _act(
        request,
        task,
        lambda: actions.complete_task(
            task=task, user=_person(request), form_data=body.form_data, comment=body.comment
        ),
    )


@api.post(
    "/tasks/{task_id}/reassign",
    auth=person_auth,
    response=_ACTION_RESPONSES,
    summary="Reassign a task to a person or team, with a reason",
)
def reassign(request: HttpRequest, task_id: uuid.UUID, body: ReassignIn) -> Any:
    task = _actionable_task(request, task_id)
    return _act(
        request,
        task,
        lambda: actions.reassign_task(
            task=task, user=_person(request), to_assignee=body.to_assignee, reason=body.reason
        ),
    )


@api.post(
    "/tasks/{task_id}/claim",
    auth=person_auth,
    response=_ACTION_RESPONSES,
    summary="Claim a task from a team queue",
)
def claim(request: HttpRequest, task_id: uuid.UUID) -> Any:
    task = _actionable_task(request, task_id)
    return _act(request, task, lambda: actions.claim_task(task=task, user=_person(request)))


@api.post(
    "/tasks/{task_id}/release",
    auth=person_auth,
    response=_ACTION_RESPONSES,
    summary="Give a claimed task back to the team queue it came from",
)
def release(request: HttpRequest, task_id: uuid.UUID) -> Any:
    task = _actionable_task(request, task_id)
    return _act(request, task, lambda: actions.release_task(task=task, user=_person(request)))
