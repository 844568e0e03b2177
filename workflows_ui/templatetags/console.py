"""Template helpers of the console pages (shared formatting is ``pages``' ``formatting``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def task_url(task_id: Any) -> str:
    """The task page (built in the inbox app), or "" if it is not routed."""
    try:
        return reverse("task_detail", args=[task_id])
    except NoReverseMatch:
        return ""


@register.simple_tag
def unrouted_count() -> int:
    from workflows_ui.selectors import unrouted_count as count

    return count()
