"""Who is calling: an ingest token with its scopes, or a signed-in person (docs/security.md).

No ``from __future__ import annotations`` here: django-ninja reads annotations at runtime.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from api.bodies import check_json_body
from workflows.models import IngestToken


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
