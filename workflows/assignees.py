"""Assignees: an engine names a person or a team by a string; here it becomes a user or
a group. An explicit ``user:`` or ``group:`` prefix wins; otherwise a username beats a
group name; a name that matches nobody leaves the task unrouted (admins see it).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from workflows import fastsql
from workflows.labels import split_assignee


def resolve_assignees(raws: Iterable[str]) -> dict[str, tuple[int | None, int | None]]:
    """Map raw assignee strings to (user id, group id); a username beats a group name."""
    # An explicit ``user:`` or ``group:`` prefix wins; otherwise either may match.
    parsed = {raw: split_assignee(raw) for raw in set(raws) if raw}
    names = {name for _, name in parsed.values() if name}
    users = {
        username: pk
        for username, pk, active in fastsql.select_in(
            fastsql.table_of(get_user_model(), "username", "id", "is_active"), "username", names
        )
        if active
    }
    groups: dict[str, int] = dict(
        fastsql.select_in(fastsql.table_of(Group, "name", "id"), "name", names)
    )
    resolved: dict[str, tuple[int | None, int | None]] = {}
    for raw, (kind, name) in parsed.items():
        if kind != "group" and name in users:
            resolved[raw] = (users[name], None)
        elif kind != "user" and name in groups:
            resolved[raw] = (None, groups[name])
        else:
            resolved[raw] = (None, None)
    return resolved
