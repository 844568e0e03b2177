"""Small template helpers for the console pages."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from workflows.timeline import format_duration

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
    from workflows_ui.selectors import unrouted_tasks

    return unrouted_tasks().count()


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
