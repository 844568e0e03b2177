from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from inbox import selectors


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Counts for the navigation, computed only when a template shows them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_counts": SimpleLazyObject(lambda: selectors.nav_counts(user=user))}
