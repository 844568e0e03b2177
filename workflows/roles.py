"""Who may see and do what in the console: Django permissions, and 404 for everyone else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponseBase

MANAGE = "workflows.manage_instances"
VIEW_HISTORY = "workflows.view_history"

View = Callable[..., HttpResponseBase]


def can_manage(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm(MANAGE))


def can_read(user: Any) -> bool:
    """Admins and managers read the console; both kinds of permission allow it."""
    return bool(user.is_authenticated and (user.has_perm(VIEW_HISTORY) or user.has_perm(MANAGE)))


def _guard(check: Callable[[Any], bool]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            # A page you may not see does not exist for you (docs/architecture.md: 404, not 403).
            if not check(request.user):
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


console_reader = _guard(can_read)
console_admin = _guard(can_manage)
