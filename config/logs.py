"""Logs: a request id for every request, and with ``LOG_FORMAT=json`` one JSON line per
request (python-json-logger formats every record; settings.LOGGING wires it).

docs/architecture.md, "Operations", lists the fields. The default format stays the plain
one, where uvicorn's access log already says each request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import empty

request_log = logging.getLogger("taskinbox.request")

# The id of the request being served, for every record logged while it runs (the ingest
# batch's line included); asgiref carries it into the thread a sync view runs in.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# A proxy's id is kept when it is a plain token, so one id follows the request through.
_GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
HEADER = "X-Request-ID"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record a handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get(HEADER, "")
    return given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex


def _user_id(request: HttpRequest) -> Any:
    """The signed-in user's id when the request already looked them up: a request that did
    not (``/healthz``, static files) must not load the session for a log line."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return None
    return wrapped.pk


class RequestLogMiddleware:
    """Outermost: gives the request its id (``request.request_id``, the ``X-Request-ID``
    response header), and with ``LOG_FORMAT=json`` logs one line when the response is ready:
    method, path (without the query), status, duration in ms, user id, request id."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started, token = self._start(request)
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        return self._finish(request, response, started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started, token = self._start(request)
        try:
            get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
            response = await get_response(request)
        finally:
            REQUEST_ID.reset(token)
        return self._finish(request, response, started)

    def _start(self, request: HttpRequest) -> tuple[float, Any]:
        request_id = _request_id(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        return time.perf_counter(), REQUEST_ID.set(request_id)

    def _finish(
        self, request: HttpRequest, response: HttpResponseBase, started: float
    ) -> HttpResponseBase:
        request_id: str = request.request_id  # type: ignore[attr-defined]
        response[HEADER] = request_id
        if settings.LOG_FORMAT == "json":
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            request_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "event": "request",
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": _user_id(request),
                    "request_id": request_id,
                },
            )
        return response
