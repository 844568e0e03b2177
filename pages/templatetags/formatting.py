"""Formatting filters both faces use: times, durations, percentages and stored JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from workflows.timeline import format_duration

register = template.Library()


def readable(value: Any) -> str:
    """One stored JSON value as a person reads it."""
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
        return [("Value", readable(data))]
    return [(str(k).replace("_", " ").capitalize(), readable(v)) for k, v in data.items()]


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


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
