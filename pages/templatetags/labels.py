"""Labels in templates: workflows, steps, priorities, people and teams as people read them.

The rules are ``workflows.labels``; these filters only put them in pages. A person renders as
``<span title="username">Full name</span>``. Names come from loaded objects (a task's
``assignee_user`` / ``assignee_group``, a user) or from a ``People`` map the view resolved in
bulk; a name missing from the map falls back without a query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from workflows import labels
from workflows.labels import PersonName
from workflows.timeline import reassignment_kind

register = template.Library()


@register.filter
def workflow_label(name: Any) -> str:
    return labels.workflow_label(name)


@register.filter
def step_label(name: Any) -> str:
    return labels.step_label(name) or "—"


@register.filter
def priority_label(value: Any) -> str:
    return labels.priority_label(value)


@register.filter
def group_label(name: Any) -> str:
    """A team by its name, or by an assignee string (``group:finance`` -> "Finance")."""
    if not name:
        return ""
    _, bare = labels.split_assignee(str(name))
    return labels.group_label(bare)


@register.filter
def task_label(task: Any) -> str:
    """A task's engine title, else its step name humanised."""
    return str(task.title or labels.step_label(task.step_name))


def render_name(name: PersonName) -> SafeString:
    if name.hover:
        return format_html('<span class="person" title="{}">{}</span>', name.hover, name.label)
    return format_html("{}", name.label)


@register.filter
def person(raw: Any, people: Mapping[str, PersonName] | None = None) -> SafeString:
    """A username or an assignee string as a name; ``people`` is the page's resolved map."""
    if isinstance(raw, PersonName):
        return render_name(raw)
    if not raw:
        return format_html("{}", "")
    if hasattr(raw, "get_username"):
        return render_name(labels.user_name(raw))
    return render_name((people or labels.People())[str(raw)])


@register.filter
def person_text(raw: Any, people: Mapping[str, PersonName] | None = None) -> str:
    """``person`` as plain text (for attributes and sentences)."""
    if not raw:
        return ""
    return (people or labels.People())[str(raw)].label


@register.filter
def assignee(task: Any, people: Mapping[str, PersonName] | None = None) -> SafeString:
    """Who holds a task, from its loaded user or group (no query when the list selected
    them), else its raw assignee through ``people``."""
    return render_name(labels.assignee_name(task, people))


@register.filter
def completer(task: Any, people: Mapping[str, PersonName] | None = None) -> SafeString:
    """Who completed a task: its loaded ``completed_by_user``, else the name it carries."""
    user = getattr(task, "completed_by_user", None) if task.completed_by_user_id else None
    if user is not None:
        return render_name(labels.user_name(user))
    return person(task.completed_by, people)


@register.simple_tag
def timeline_sentence(entry: Any) -> SafeString:
    """A timeline entry's sentence, each name with its username on hover."""
    if not entry.segments:
        return format_html("{}", entry.sentence)
    html = SafeString("")
    for segment in entry.segments:
        html += render_name(PersonName(segment.text, segment.hover))
    return html


@register.filter
def last_handover(task: Any) -> str:
    """What the task's last reassignment was: "claim", "release" or "reassign"
    (``workflows.timeline.reassignment_kind``), for the task page's facts."""
    return reassignment_kind(
        actor=task.last_reassigned_by or "",
        from_assignee=task.previous_assignee,
        to_assignee=task.assignee,
        to_is_group=task.assignee_group_id is not None or None,
    )


@register.filter
def my_handover(task: Any, user: Any) -> str:
    """How ``user`` last handed ``task`` on, for Done: "release" when they gave it back to a
    team, else "reassign" (``workflows.timeline.reassignment_kind``)."""
    if task.last_reassigned_by != user.get_username():
        return "reassign"
    return reassignment_kind(
        actor=task.last_reassigned_by,
        from_assignee=task.previous_assignee,
        to_assignee=task.assignee,
        to_is_group=task.assignee_group_id is not None or None,
    )
