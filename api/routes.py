"""The JSON API: ``POST /api/events`` (the ingest door), the read endpoints and people's
actions on tasks. It depends on the core (``workflows``) only.

No ``from __future__ import annotations`` here: django-ninja reads annotations at runtime.
"""

import logging
import uuid
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.conf import settings as ninja_settings
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.pagination import LimitOffsetPagination, paginate

from api import selectors
from api.auth import MissingScope, SessionAuth, TokenAuth
from api.bodies import BodyRefused, StorableJSONParser, check_json_body
from api.schemas import (
    MAX_REPORTED,
    CompleteIn,
    ConflictOut,
    DetailOut,
    ErrorsOut,
    IngestOut,
    InstanceDetailOut,
    InstanceFilters,
    InstanceOut,
    ReassignIn,
    TaskFilters,
    TaskOut,
)
from workflows import actions, group_commit, jsonvalues, outages
from workflows import selectors as core
from workflows.ingest import IngestError
from workflows.models import HumanTask, IngestToken, TokenScope

log = logging.getLogger(__name__)


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
    parser=StorableJSONParser(),
)
# Every route names its auth: a token with a scope, a signed-in person, or either.
# (tests/api/test_token_scopes.py checks every route of this router against each scope.)
write_auth = TokenAuth(TokenScope.EVENTS_WRITE.value)
read_auth = [TokenAuth(TokenScope.READ.value), SessionAuth()]
person_auth = SessionAuth()


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


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The database is restarting or unreachable: the transaction rolled back, nothing is
    # stored; the engine sends the batch again after Retry-After (config/outage.py). Any
    # other OperationalError (SQLite's missing table, bad SQL) is a 500 (workflows.outages).
    if not outages.is_outage(exc):
        raise exc
    log.warning("api: database unavailable, answered 503: %r", exc)
    return database_unavailable()


UNAVAILABLE = "the database is temporarily unavailable; nothing was stored, send it again"


def database_unavailable() -> JsonResponse:
    """503 in the API's error shape, with Retry-After (also config.outage's answer under
    /api/ when the outage struck before the API's view ran)."""
    seconds = settings.RETRY_AFTER_SECONDS
    response = _body_error(503, f"{UNAVAILABLE} in {seconds} seconds")
    response["Retry-After"] = str(seconds)
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
        # Shares a transaction with the requests ingesting at the same time, if any.
        result = group_commit.ingest_events(events=batch, source=f"token:{token.name}")
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
    except actions.WorkflowNotActive as exc:  # paused, or ended since the task was read
        current = HumanTask.objects.select_related("instance").get(pk=task.pk)
        return Status(409, {"detail": exc.message, "task": current})
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
