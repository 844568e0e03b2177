"""Formatting filters both faces use: times, durations, percentages and stored JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import template
from django.utils import formats, timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

from workflows.labels import humanize
from workflows.timeline import format_duration

register = template.Library()


@register.filter
def number(value: Any) -> str:
    """A count or an amount grouped and pointed for the locale (``LANGUAGE_CODE``, en-us):
    12500.5 → "12,500.5", 1234 and 1234.0 → "1,234". Decimals are kept as given, not
    rounded or padded (the value's meaning, currency or not, is the engine's). Anything else
    as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)  # a form's number field gives 4500.0 for "4500": shown as typed
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def readable(value: Any) -> str:
    """One stored JSON value as a person reads it."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, dict | list):
        return json.dumps(value, indent=None, ensure_ascii=False)
    return str(value)


@register.filter
def readable_items(data: Any) -> list[tuple[str, str]]:
    """Top-level keys of a JSON object as (Label, value) rows."""
    if not isinstance(data, dict):
        return [("Value", readable(data))]
    return [(humanize(str(k)), readable(v)) for k, v in data.items()]


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


def local_text(value: datetime, *, seconds: bool = False) -> str:
    """``value`` on the active zone's clock: "2026-11-29 14:05"."""
    return format_date(timezone.localtime(value), "Y-m-d H:i:s" if seconds else "Y-m-d H:i")


def both_clocks(value: datetime) -> str:
    """The hover text of every date: the local time and zone, then the same moment in UTC."""
    local = timezone.localtime(value)
    utc = value.astimezone(UTC)
    return f"{format_date(local, 'Y-m-d H:i:s')} {timezone.get_current_timezone_name()} · " + (
        f"{format_date(utc, 'Y-m-d H:i:s')} UTC"
    )


@register.simple_tag
def when(
    value: datetime | None,
    *,
    relative: bool = False,
    seconds: bool = False,
    css: str = "",
    prefix: str = "",
) -> SafeString | str:
    """Every date a person reads: ``<time>`` with the UTC instant in ``datetime``, the local
    time ("2026-11-29 14:05") or with ``relative`` "3 hours ago" as its text, and the local time
    with its zone and the same moment in UTC on hover. ``prefix`` goes first in the text
    ("overdue, "), ``css`` is the element's class."""
    if value is None:
        return ""
    text = prefix + (ago(value) if relative else local_text(value, seconds=seconds))
    return format_html(
        '<time datetime="{}" title="{}"{}>{}</time>',
        value.astimezone(UTC).isoformat(),
        both_clocks(value),
        format_html(' class="{}"', css) if css else "",
        text,
    )


@register.filter
def duration(value: float | timedelta | None) -> str:
    """The one duration format of the site (``workflows.timeline.format_duration``): "45 s",
    "3 min 5 s", "2 h 10 min", "3 d 4 h"; "—" when there is none. Seconds or a timedelta."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return format_duration(seconds)


@register.filter
def duration_since(end: datetime | None, start: datetime | None) -> str:
    """``{{ end|duration_since:start }}``: the time between two moments, as ``duration``."""
    if end is None or start is None:
        return "—"
    return duration(end - start)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
