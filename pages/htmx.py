"""What the pages of both apps share about htmx: the typed request and page-or-partial."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A signed-in person's request, as django-htmx and login_required leave it."""

    htmx: HtmxDetails
    user: User


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The whole page, or only its named partial when htmx asks for a region of it."""
    if request.htmx and not request.htmx.boosted:
        return f"{template}#{partial}"
    return template
