"""Wiring of the security libraries that settings name by dotted path: the client address and
the lockout page for django-axes, and the Content-Security-Policy middleware (django-csp);
and the password change, throttled like sign-in.

docs/architecture.md, section "Security", says what each setting does and why.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.views import LogoutView, PasswordChangeView
from django.core.exceptions import DisallowedHost, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address sign-in attempts are counted against (AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR unless DJANGO_PROXY_COUNT says how many reverse proxies stand in front of
    the app. Each proxy appends the address it was reached from to X-Forwarded-For, so with
    N proxies the client is the N-th entry from the right; everything left of it is whatever
    the client chose to send and is ignored. A header with fewer entries than that did not
    come through all the proxies: REMOTE_ADDR then.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.PROXY_COUNT
    if count > 0:
        hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= count:
            found = _valid_ip(hops[-count])
            if found is not None:
                return found
    return remote


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """The sign-in page with the lockout message, as AXES_LOCKOUT_CALLABLE (HTTP 429).

    Axes calls this with (request, original_response, credentials) from its synchronous
    middleware and with (request, credentials) from its asynchronous one; the username comes
    from the request's own form data either way.
    """
    username = request.POST.get("username", "") if request.method == "POST" else ""
    form = AuthenticationForm(request, initial={"username": username})
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        "form": form,
        "locked_out": True,
        "cooloff_minutes": minutes,
        "next": request.POST.get("next", "") or request.GET.get("next", ""),
    }
    return render(
        request,
        "registration/login.html",
        context,
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's own websocket origin added to connect-src.

    CSP Level 3 lets 'self' match ws: and wss: on the page's host, and current Chromium and
    Firefox follow it; older Safari does not. The host is the request's, which
    ALLOWED_HOSTS has already vetted; the scheme follows the page's (wss on HTTPS).
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        # get_host() raises DisallowedHost for a host outside ALLOWED_HOSTS; such a request
        # gets Django's 400 page, which needs no socket.
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), f"{scheme}://{host}"]
        parts.update = update
        return parts


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked through ``authenticate``, so
    django-axes counts wrong guesses and locks them as it does at sign-in (a stolen session
    must not be a way to try passwords at leisure)."""

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        found = authenticate(self.request, username=self.user.get_username(), password=old_password)
        if found is None or found.pk != self.user.pk:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class ThrottledPasswordChangeView(PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}


class SignOutView(LogoutView):
    """Django's sign-out, which then says so on the sign-in page it lands on: without a word,
    the sign-in form alone looks as if the session had simply expired."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response
