"""Whose clock a page's dates are read on: the person's saved time zone, else their browser's
(the ``tz`` cookie static/js/app.js sets), else ``settings.TIME_ZONE``.

``TimeZoneMiddleware`` activates it for each request; the live socket activates its own
user's while it renders fragments (``live.consumers``), so a live row reads like a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from workflows.models import Preferences
from workflows.preferences import time_zone_names

COOKIE = "tz"  # the browser's IANA zone, as Intl.DateTimeFormat reports it
T = TypeVar("T")


def browser_zone(cookie: str | None) -> str:
    """The cookie's zone if it names one we know; anything else is ignored ("")."""
    name = unquote(cookie or "")  # the script writes it URL-encoded ("America%2FNew_York")
    return name if len(name) <= 64 and name in time_zone_names() else ""


def zone_for(user: Any, cookie: str | None) -> str:
    """The zone name to read dates in for this person and browser."""
    if user is not None and user.is_authenticated:
        saved = Preferences.objects.filter(user=user).values_list("time_zone", flat=True).first()
        if saved and saved in time_zone_names():
            return saved
    return browser_zone(cookie) or settings.TIME_ZONE


def rendered_in(zone: str, render: Callable[[], T]) -> Callable[[], T]:
    """``render`` wrapped to run with ``zone`` active (for the live socket's thread)."""

    def run() -> T:
        with timezone.override(zone):
            return render()

    return run


class TimeZoneMiddleware:
    """Activates the request's zone (after authentication) and deactivates it afterwards."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = zone_for(getattr(request, "user", None), request.COOKIES.get(COOKIE))
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
