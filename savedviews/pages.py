"""The pages a view can be saved from: each page's own filter form, filter parameters and
list selector, so a saved view's filters and count are exactly what that page shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse

from inbox import selectors as inbox_selectors
from inbox.forms import TaskFilterForm
from savedviews.models import SavedView
from workflows.roles import can_read
from workflows_ui import selectors as console_selectors
from workflows_ui.forms import InstanceFilterForm

TASK_PARAMS = ("q", "workflow", "due", "sort")


@dataclass(frozen=True)
class PageSpec:
    page: str
    url_name: str
    # The filter parameters a view keeps, in this order; never the page or the cursor.
    params: tuple[str, ...]
    form: Callable[[QueryDict, dict[str, Any]], forms.Form]
    filters: Callable[[forms.Form], dict[str, Any]]
    rows: Callable[[User, dict[str, Any]], QuerySet[Any]]
    allowed: Callable[[User], bool]

    def url(self, query: str) -> str:
        base = reverse(self.url_name)
        return f"{base}?{query}" if query else base


def _task_form(data: QueryDict, extra: dict[str, Any]) -> forms.Form:
    return TaskFilterForm(data)


def _instance_form(data: QueryDict, extra: dict[str, Any]) -> forms.Form:
    if "workflow_names" not in extra:
        extra["workflow_names"] = console_selectors.workflow_names()
    return InstanceFilterForm(data, workflow_names=extra["workflow_names"])


def _task_filters(form: forms.Form) -> dict[str, Any]:
    assert isinstance(form, TaskFilterForm)
    return form.filters()


def _instance_filters(form: forms.Form) -> dict[str, Any]:
    assert isinstance(form, InstanceFilterForm)
    return form.filters()


PAGES: dict[str, PageSpec] = {
    SavedView.Page.MY_TASKS: PageSpec(
        page=SavedView.Page.MY_TASKS,
        url_name="my_tasks",
        params=TASK_PARAMS,
        form=_task_form,
        filters=_task_filters,
        rows=lambda user, filters: inbox_selectors.my_tasks(user=user, filters=filters),
        allowed=lambda user: bool(user.is_authenticated),
    ),
    SavedView.Page.TEAM_QUEUES: PageSpec(
        page=SavedView.Page.TEAM_QUEUES,
        url_name="team_queues",
        params=("group", *TASK_PARAMS),
        form=_task_form,
        filters=_task_filters,
        rows=lambda user, filters: inbox_selectors.team_queue(user=user, filters=filters),
        allowed=lambda user: bool(user.is_authenticated),
    ),
    SavedView.Page.INSTANCES: PageSpec(
        page=SavedView.Page.INSTANCES,
        url_name="workflows_ui:instances",
        params=(
            "status",
            "workflow",
            "version",
            "tenant",
            "initiator",
            "started_from",
            "started_to",
            "q",
            "sort",
        ),
        form=_instance_form,
        filters=_instance_filters,
        rows=lambda user, filters: console_selectors.instance_list(filters=filters),
        allowed=can_read,
    ),
}


def query_text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
