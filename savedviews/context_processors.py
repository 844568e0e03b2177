from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from savedviews import selectors


def saved_views(request: HttpRequest) -> dict[str, Any]:
    """The person's saved views with their counts, computed only when a template shows them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_views": SimpleLazyObject(lambda: selectors.nav_views(user))}
