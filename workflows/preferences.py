"""A person's settings: read with defaults, written through one service."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError

from workflows.models import Preferences


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zones a person may choose, sorted (legacy aliases such as US/Eastern left out)."""
    return tuple(
        sorted(
            name
            for name in zoneinfo.available_timezones()
            if ("/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))) or name == "UTC"
        )
    )


def valid_time_zone(name: str) -> bool:
    return name == "" or name in time_zone_names()


def preferences_for(user: Any) -> Preferences:
    """The person's preferences; an unsaved row with the defaults if they never chose."""
    try:
        return Preferences.objects.get(user=user)
    except Preferences.DoesNotExist:
        return Preferences(user=user)


def save_preferences(
    user: Any, *, time_zone: str, notify_assigned: bool, notify_digest: bool
) -> Preferences:
    if not valid_time_zone(time_zone):
        raise ValidationError({"time_zone": f"Unknown time zone: {time_zone[:64]!r}."})
    prefs, _ = Preferences.objects.update_or_create(
        user=user,
        defaults={
            "time_zone": time_zone,
            "notify_assigned": notify_assigned,
            "notify_digest": notify_digest,
        },
    )
    return prefs
