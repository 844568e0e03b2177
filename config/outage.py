"""The database away (restarting, unreachable, or SQLite locked past its timeout): a 503 with
``Retry-After``, never a 500, on every face.

Where the failure surfaces decides who answers:
- in the JSON API's view (token lookup, ingest, an action): the API's exception handler
  answers in its own error shape (``api.routes.database_unavailable``);
- anywhere else (a page's view, the session or authentication middleware, the time-zone
  middleware reading preferences): Django turns the exception into its 500 handler, which is
  :func:`server_error` here. It answers 503 when the exception it handles is a database
  outage, and Django's own 500 otherwise.

Nothing is half-written: ingest and every action run in one transaction, rolled back with the
error. Nothing needs a restart either: Django opens a new connection on the next request
(``CONN_HEALTH_CHECKS`` drops a dead persistent one first), the outbox worker's loop retries
(``workflows.worker``), and sockets re-sync when they reconnect. docs/architecture.md,
"Operations".
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token
from django.views.defaults import server_error as django_server_error

from workflows.outages import is_outage

log = logging.getLogger(__name__)


class BriefOutageFilter(logging.Filter):
    """An outage fails every request and every pass of the worker's loop, all with the same
    traceback: log each as one line that names the error, without the traceback. Any other
    exception keeps its traceback. It rewrites the record itself, so every handler after it
    (an error tracker's included) gets the one line; it sits on the console handler, the
    only one configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if is_outage(exc):
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            record.msg = (
                f"{record.getMessage()} (database unavailable: {type(exc).__name__}: {first_line})"
            )
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def unavailable_page() -> HttpResponse:
    """A page that needs nothing the outage took away: no session, user or database."""
    seconds = settings.RETRY_AFTER_SECONDS
    html = loader.get_template("503.html").render({"retry_after": seconds})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(seconds)
    return response


@requires_csrf_token
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: Django calls it while handling the exception, so it is the current one."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        log.warning("database unavailable, answered 503: %r", exc)
        if request.path.startswith("/api/"):
            from api.routes import database_unavailable  # not at import: logging loads us

            return database_unavailable()
        return unavailable_page()
    if request.path.startswith("/api/"):
        # The API speaks JSON even when it fails outside its own handlers.
        return JsonResponse(
            {"errors": [{"index": None, "field": "", "message": "internal server error"}]},
            status=500,
        )
    return django_server_error(request, template_name)
