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
# The permissions that make a Django group a role (Admins, Managers), not a team.
ROLE_CODENAMES = ("manage_instances", "view_history")


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


def role_groups() -> Any:
    """The Django groups that are roles: they hold a console permission. A role has no
    queue of its own, and its members are not a team."""
    from django.contrib.auth.models import Group

    return Group.objects.filter(
        permissions__content_type__app_label="workflows", permissions__codename__in=ROLE_CODENAMES
    )


console_reader = _guard(can_read)
console_admin = _guard(can_manage)
