"""Request bodies of the API: JSON only, within a size, parsed without letting deep nesting
or text the database cannot hold through (``workflows.jsonvalues``)."""

from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from workflows import jsonvalues


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


class StorableJSONParser(Parser):
    """Request bodies are UTF-8 JSON, parsed as ``POST /api/events`` parses them (deep
    nesting is a ValueError, which ninja answers as a 400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return jsonvalues.loads(request.body)
