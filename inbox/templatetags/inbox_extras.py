"""Template helpers of the assignee pages (shared formatting is ``pages``' ``formatting``)."""

from __future__ import annotations

from typing import Any

from django import template

from pages.templatetags.formatting import readable
from workflows.labels import choice_label, humanize
from workflows.models import HumanTask

register = template.Library()


@register.filter
def form_data_rows(task: HumanTask) -> list[tuple[str, str]]:
    """Submitted form data labelled with the schema's titles, in the schema's order; a
    choice's value reads as its label (``request_changes`` -> "Request changes")."""
    data = task.form_data or {}
    props = (task.form_schema or {}).get("properties") or {}
    rows = []
    for key in [*[k for k in props if k in data], *[k for k in data if k not in props]]:
        found = props.get(key)
        spec: dict[str, Any] = found if isinstance(found, dict) else {}
        label = spec.get("title") or humanize(key)
        value = choice_label(spec, data[key])
        rows.append((label, value if value is not None else readable(data[key])))
    return rows
