"""The JSON API: ``POST /api/events`` (the ingest door), the read endpoints and people's
actions on tasks. It depends on the core (``workflows``) only.

No ``from __future__ import annotations`` here: django-ninja reads annotations at runtime.
"""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.conf import settings as ninja_settings
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from pydantic import AfterValidator, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from api import selectors
from workflows import actions, jsonvalues
from workflows import selectors as core
from workflows.ingest import IngestError, ingest_events
from workflows.models import HumanTask, IngestToken, TokenScope
from workflows.wire import parse_datetime


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


class BodyRefused(Exception):
    """A body refused before it is parsed: not JSON (415) or over the limit (413)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def check_json_body(request: HttpRequest, *, limit: int | None, optional: bool = False) -> None:
    """Refuse, from its headers alone, a body that is not JSON or declares more than
    ``limit`` bytes. ``optional``: a request with neither a body nor a Content-Type passes
    (``POST .../claim`` needs no body)."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if limit is not None and declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, f"the body is {declared} bytes; the limit is {limit}")
    content_type = (request.content_type or "").lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return
    no_body = declared == "0" and "HTTP_TRANSFER_ENCODING" not in request.META
    if optional and no_body and not content_type:
        return
    raise BodyRefused(415, f"send Content-Type: application/json, not {content_type!r}")


class SessionAuth(NinjaSessionAuth):
    """ninja's session auth (the OpenAPI document names it so), where a request that may
    carry a body must carry JSON within Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``. Checked
    before ninja's CSRF check, which parses a form or multipart body to look for a token
    there: that body could then not be read as JSON (RawPostDataException, a 500), or would
    fail as Django's HTML 400."""

    def __call__(self, request: HttpRequest) -> Any:
        # Anyone not signed in is a 401, whatever they sent.
        if request.method not in _SAFE_METHODS and request.user.is_authenticated:
            check_json_body(request, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE, optional=True)
        return super().__call__(request)


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class StorableJSONParser(Parser):
    """Request bodies are UTF-8 JSON, parsed as ``POST /api/events`` parses them (deep
    nesting is a ValueError, which ninja answers as a 400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return jsonvalues.loads(request.body)


api = StableIdsAPI(
    title="Task inbox API",
    version="1.0",
    description="Workflow engines send domain events; people and tools read tasks and instances.",
    urls_namespace="api",
    parser=StorableJSONParser(),
)
# Every route names its auth: a token with a scope, a signed-in person, or either.
# (tests/api/test_token_scopes.py checks every route of this router against each scope.)
write_auth = TokenAuth(TokenScope.EVENTS_WRITE.value)
read_auth = [TokenAuth(TokenScope.READ.value), SessionAuth()]
person_auth = SessionAuth()


# --- schemas -------------------------------------------------------------------------------


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
    """Every refusal's shape (ErrorsOut): the first MAX_REPORTED problems and a count of the
    rest."""
    body: dict[str, Any] = {"errors": problems[:MAX_REPORTED]}
    if len(problems) > MAX_REPORTED:
        body["more"] = len(problems) - MAX_REPORTED
    return JsonResponse(body, status=status)


def _body_error(status: int, message: str) -> JsonResponse:
    return _errors(status, [{"index": None, "field": "", "message": message}])


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # ninja's own shape ({"detail": [...]}) is not the documented one: say it as ErrorsOut.
    problems = []
    for error in exc.errors:
        where = [str(part) for part in error.get("loc", ())]
        if where and where[0] in ("body", "query", "path"):
            # ninja nests the body under its parameter name: body.body.comment -> comment
            where = where[2:] if where[0] == "body" and len(where) > 2 else where[1:]
        message = str(error.get("msg", "invalid"))
        problems.append({"index": None, "field": ".".join(where), "message": message})
    return _errors(422, problems)


@api.exception_handler(BodyRefused)
def _body_refused(request: HttpRequest, exc: BodyRefused) -> HttpResponse:
    return _body_error(exc.status, exc.message)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # A chunked body (no Content-Length) measured by Django as it is read.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _body_error(413, f"the body is over the limit of {limit} bytes")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    field = ""
    if exc.status_code == 403:
        field = "X-CSRFToken"
        message = "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken"
    elif exc.status_code == 400:
        message = "the body is not valid JSON (or nested too deeply)"
    return _errors(exc.status_code, [{"index": None, "field": field, "message": message}])


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
    response={
        200: IngestOut,
        400: ErrorsOut,
        401: ErrorsOut,
        403: ErrorsOut,
        413: ErrorsOut,
        415: ErrorsOut,
        422: ErrorsOut,
    },
    openapi_extra=_BODY_DOC,
    summary='Ingest events (one, an array, or {"events": [...]}); all or nothing',
)
def post_events(request: HttpRequest) -> Any:
    limit = settings.INGEST_MAX_BODY_BYTES
    check_json_body(request, limit=limit)
    try:
        # At most one byte past the limit: a chunked body (no Content-Length) is measured
        # here, before Django's DATA_UPLOAD_MAX_MEMORY_SIZE would answer an HTML 400.
        body = request.read(limit + 1)
    except RequestDataTooBig:
        return _body_error(413, f"the body is over the limit of {limit} bytes")
    if len(body) > limit:
        return _body_error(413, f"the body is over the limit of {limit} bytes")
    try:
        data = jsonvalues.loads(body)
    except ValueError as exc:  # UnicodeDecodeError too: the body is not UTF-8
        return _body_error(400, f"the body is not valid JSON: {exc}")
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

# OFFSET and LIMIT are 64-bit in SQL: PostgreSQL answers "bigint out of range" beyond.
_PAGE_BOUND = 2**62


class Pagination(LimitOffsetPagination):
    """ninja's limit/offset pagination, with both inside what the database can take."""

    class Input(Schema):
        limit: int = Field(ninja_settings.PAGINATION_PER_PAGE, ge=1, le=_PAGE_BOUND)
        offset: int = Field(0, ge=0, le=_PAGE_BOUND)


def _reader(request: HttpRequest) -> Any:
    """A token sees everything (it speaks for an engine); a person sees what is theirs."""
    return None if isinstance(request.auth, IngestToken) else request.user  # type: ignore[attr-defined]


_READ_REFUSALS = {401: ErrorsOut, 403: ErrorsOut, 422: ErrorsOut}


@api.get(
    "/tasks",
    auth=read_auth,
    response={200: list[TaskOut], **_READ_REFUSALS},
    summary="Tasks, newest first",
)
@paginate(Pagination)
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> Any:
    return selectors.api_task_list(user=_reader(request), filters=filters.dict(exclude_none=True))


@api.get(
    "/instances",
    auth=read_auth,
    response={200: list[InstanceOut], **_READ_REFUSALS},
    summary="Workflow instances",
)
@paginate(Pagination)
def list_instances(request: HttpRequest, filters: Query[InstanceFilters]) -> Any:
    return selectors.api_instance_list(
        user=_reader(request), filters=filters.dict(exclude_none=True)
    )


@api.get(
    "/instances/{instance_id}",
    auth=read_auth,
    response={200: InstanceDetailOut, 404: DetailOut, **_READ_REFUSALS},
    summary="One instance: its projection and its ordered timeline",
)
def get_instance(request: HttpRequest, instance_id: uuid.UUID) -> Any:
    instance = get_object_or_404(
        selectors.api_instance_list(user=_reader(request), filters={}), instance_id=instance_id
    )
    nested = ("steps", "tasks", "timeline")
    reader = _reader(request)
    # Other people's tasks stay private: the core's one rule for tasks and for events.
    tasks = HumanTask.objects.all() if reader is None else core.visible_tasks(user=reader)
    tasks = tasks.filter(instance=instance).select_related(
        "assignee_user", "assignee_group", "instance"
    )
    timeline = core.instance_events(instance_id=instance.instance_id, viewer=reader)
    return {
        **{k: getattr(instance, k) for k in InstanceDetailOut.model_fields if k not in nested},
        "steps": list(instance.steps.all()),
        "tasks": list(tasks),
        "timeline": timeline,
    }


# --- people's actions ----------------------------------------------------------------------


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
        return _errors(
            422, [{"index": None, "field": f or "", "message": m} for f, m in exc.errors]
        )
    except actions.ActionRefused as exc:
        return _errors(422, [{"index": None, "field": exc.field, "message": exc.message}])
    related = ("instance", "assignee_user", "assignee_group")
    return Status(200, HumanTask.objects.select_related(*related).get(pk=task.pk))


_ACTION_RESPONSES = {
    200: TaskOut,
    400: ErrorsOut,
    401: ErrorsOut,
    403: ErrorsOut,
    404: DetailOut,
    409: ConflictOut,
    413: ErrorsOut,
    415: ErrorsOut,
    422: ErrorsOut,
}


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
