"""Filters that make stored JSON and durations readable."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from workflows.models import HumanTask

register = template.Library()


def _readable(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, indent=None, ensure_ascii=False)
    return str(value)


@register.filter
def readable_items(data: Any) -> list[tuple[str, str]]:
    """Top-level keys of a JSON object as (Label, value) rows."""
    if not isinstance(data, dict):
        return [("Value", _readable(data))]
    return [(str(k).replace("_", " ").capitalize(), _readable(v)) for k, v in data.items()]


@register.filter
def form_data_rows(task: HumanTask) -> list[tuple[str, str]]:
    """Submitted form data labelled with the schema's titles, in the schema's order."""
    data = task.form_data or {}
    props = (task.form_schema or {}).get("properties") or {}
    rows = []
    for key in [*[k for k in props if k in data], *[k for k in data if k not in props]]:
        found = props.get(key)
        spec: dict[str, Any] = found if isinstance(found, dict) else {}
        label = spec.get("title") or str(key).replace("_", " ").capitalize()
        rows.append((label, _readable(data[key])))
    return rows


@register.filter
def ago(value: datetime | None) -> str:
    """ "3 hours ago" or "in 2 days": the largest unit only, for dense tables."""
    if value is None:
        return ""
    now = timezone.now()
    if abs((now - value).total_seconds()) < 60:
        return "just now"
    if value <= now:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


@register.filter
def duration_words(delta: timedelta | None) -> str:
    """A short duration: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
