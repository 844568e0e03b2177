"""HTML fragments for live updates, rendered with the pages' own partials and selectors.

Each function is synchronous (the consumer runs it in a thread) and renders what one page
region shows, marked for htmx's out-of-band swap. Queries come from the faces' selectors
and the core's, so a live region can never disagree with a fresh page load.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from inbox import selectors as inbox_selectors
from savedviews import selectors as view_selectors
from workflows import actions
from workflows import selectors as core
from workflows.labels import People, step_label
from workflows.models import HumanTask, WorkflowInstance
from workflows.roles import can_read
from workflows_ui import selectors as console


def task_row(task_id: str, mode: str, *, flash: bool = False, oob: bool = False) -> str:
    """A task's row on My tasks or Team queues ("" if the task is gone)."""
    task = inbox_selectors.task_for_row(task_id=task_id)
    if task is None:
        return ""
    return render_to_string(
        "inbox/task_list.html#task-row", {"task": task, "mode": mode, "flash": flash, "oob": oob}
    )


def row_removal(task_id: str) -> str:
    return format_html('<tr id="task-row-{}" hx-swap-oob="delete"></tr>', task_id)


def row_insertion(
    row: str,
    page_ids: list[str],
    task_id: str,
    *,
    prefix: str = "task-row-",
    body: str = "task-rows",
) -> str:
    """``row`` placed where a fresh load of the page would show it."""
    index = page_ids.index(task_id)
    target = (
        f"beforebegin:#{prefix}{page_ids[index + 1]}"
        if index + 1 < len(page_ids)
        else f"beforeend:#{body}"
    )
    return f'<tbody hx-swap-oob="{target}" data-live-miss="resync">{row}</tbody>'


def task_title(task_id: str) -> str | None:
    task = inbox_selectors.task_for_row(task_id=task_id)
    return None if task is None else (task.title or step_label(task.step_name))


def arrival(task_id: str, title: str, mode: str) -> tuple[str, str]:
    """A new task's line for the live region: (notification tag, text)."""
    text = f"New task: {title}" if mode == "mine" else f"New in your team queue: {title}"
    return task_id, text


LIST_NAMES = {"mine": "My tasks", "queue": "your team queues"}


def removal(task: HumanTask, user: User, mode: str) -> str:
    """Why a task left this person's list (``mode``), for the live region: who completed,
    claimed or reassigned it, if ``user`` still sees the task; else only that it left (as
    the task page says no more than ``GONE_BANNER``: not its state, not by whom)."""
    title = task.title or task.step_name
    if not core.visible_tasks(user=user).filter(pk=task.pk).exists():
        return f"Task “{title}” was removed from {LIST_NAMES.get(mode, 'this list')}."

    def who(name: str) -> str:
        return "you" if name and name == user.get_username() else (name or "someone")

    if task.status == HumanTask.Status.COMPLETED:
        why = f"completed by {who(task.completed_by)}"
    elif task.status == HumanTask.Status.CANCELED:
        why = f"closed ({task.closed_reason or 'its workflow ended'})"
    elif task.assignee_user_id is not None and task.assignee == f"user:{task.last_reassigned_by}":
        why = f"claimed by {who(task.last_reassigned_by)}"
    else:
        why = f"reassigned to {task.assignee or 'nobody'} by {who(task.last_reassigned_by)}"
    return f"Task “{title}” was removed: {why}."


def announcer(lines: list[tuple[str, str]]) -> str:
    """The live region's new content, one span per (notification tag or "", text); a tagged
    line is also a browser notification, if the person allowed them (``static/js/live.js``).
    The region says what changed; the regions that change are not live themselves."""
    if not lines:
        return ""
    spans = [
        format_html('<span data-notify="{}">{}</span>', tag, text)
        if tag
        else format_html("<span>{}</span>", text)
        for tag, text in lines
    ]
    return format_html(
        '<div id="live-announcer" hx-swap-oob="innerHTML">{}</div>', mark_safe(" ".join(spans))
    )


GONE_BANNER = "This task is no longer in your inbox or your team queues."


def task_banner(task: HumanTask, user: User) -> str:
    """Tell the viewer of a task page that someone else changed the task; forms go off."""
    actor = (
        task.completed_by
        if task.status == HumanTask.Status.COMPLETED
        else task.last_reassigned_by
        if task.status == HumanTask.Status.OPEN
        else ""
    )
    if actor and actor == user.get_username():
        return ""  # my own action: my page is being redirected already
    if not core.visible_tasks(user=user).filter(pk=task.pk).exists():
        return task_gone(str(task.task_id))
    context = {
        "task": task,
        "live_banner": actions.describe_task_state(task),
        "stale": not core.may_act(user, task),
        "oob": True,
    }
    return render_to_string("inbox/task_detail.html#task-banner", context) + render_to_string(
        "inbox/task_detail.html#task-status-badge", context
    )


def workflow_state(instance_id: str) -> tuple[str, str]:
    """A task page's workflow banner and its instance badge, with the state's key
    (``workflows.actions.WorkflowState.key``); ("", "") if the instance is gone. The same for
    everyone who sees one of its tasks (they all see its workflow events). The page's script
    holds or frees the complete form by the banner's ``data-hold-complete``, keeping what the
    person typed."""
    instance = WorkflowInstance.objects.filter(instance_id=instance_id).first()
    if instance is None:
        return "", ""
    state = actions.workflow_state(instance)
    context = {"instance": instance, "workflow": state, "oob": True}
    html = render_to_string("inbox/task_detail.html#workflow-state", context) + render_to_string(
        "inbox/task_detail.html#instance-status-badge", context
    )
    return state.key, html


def task_gone(task_id: str) -> str:
    """The task has left this person's sight (reassigned to someone else): say no more than
    that; not its state, not by whom, not to whom. Forms go off; "Also viewing" empties."""
    context = {"task": {"task_id": task_id}, "live_banner": GONE_BANNER, "stale": True, "oob": True}
    return render_to_string("inbox/task_detail.html#task-banner", context) + presence([])


def presence(viewers: list[str]) -> str:
    """ "Also viewing": the other viewers by full name (username on hover)."""
    return render_to_string(
        "inbox/task_detail.html#task-presence",
        {"viewers": viewers, "people": People.of(viewers), "oob": True},
    )


def counts(
    *,
    my: int | None,
    per_group: dict[int, int] | None,
    group_names: dict[int, str],
    each_queue: bool,
) -> str:
    """The navigation's counts (mine, my queues) and, on Team queues, each queue's."""
    parts: list[str] = []
    if my is not None:
        parts.append(render_to_string("_nav.html#count-my", {"n": my, "oob": True}))
    if per_group is not None:
        total = sum(per_group.get(g, 0) for g in group_names)
        parts.append(render_to_string("_nav.html#count-queues", {"n": total, "oob": True}))
        if each_queue:
            parts.extend(
                format_html(
                    '<span class="count" id="count-queue-{}" hx-swap-oob="true">{}</span>',
                    g,
                    per_group.get(g, 0),
                )
                for g in group_names
            )
    return "".join(parts)


def view_counts(user: User, pages: tuple[str, ...]) -> str:
    """The counts of the person's saved views of these pages, as the navigation shows them
    (``savedviews.selectors.nav_views``: the pages' own forms and selectors, one query)."""
    return "".join(
        render_to_string(
            "savedviews/_nav_views.html#count-view", {"v": row, "n": row.count, "oob": True}
        )
        for row in view_selectors.nav_views(user, pages)
    )


def instance_row(instance_id: str, manage: bool) -> str:
    """An instance's row on the console's instance list."""
    instance = console.instance_get(instance_id=uuid.UUID(instance_id))
    if instance is None:
        return ""
    return render_to_string(
        "workflows_ui/instances.html#instance-row",
        {
            "i": instance,
            "can_manage": manage,
            "oob": True,
            "people": People.of([instance.initiator]),
        },
    )


def instance_regions(instance_id: str, kinds: tuple[str, ...], viewer: User) -> str:
    """The instance page's live regions: status, open tasks, timeline, as ``viewer`` may
    see them (``workflows.selectors.events_for``); "" for whoever may not read the console's
    instance page, as that page is a 404 for them."""
    if not can_read(viewer):
        return ""
    iid = uuid.UUID(instance_id)
    instance = console.instance_get(instance_id=iid)
    if instance is None:
        return ""
    template = "workflows_ui/instance.html"
    context: dict[str, Any] = {
        "instance": instance,
        "people": People.of([instance.initiator, instance.canceled_by, instance.paused_by]),
        "open_tasks": list(console.instance_open_tasks(instance_id=iid)),
        "timeline": core.instance_timeline(
            instance_id=iid,
            viewer=viewer,
            kinds=list(kinds),  # type: ignore[arg-type]
        ),
        "now": console.now(),
        "oob": True,
    }
    timeline = render_to_string(f"{template}#timeline", context)
    return (
        render_to_string(f"{template}#instance-status-badge", context)
        + render_to_string(f"{template}#open-tasks", context)
        + f'<div id="timeline" hx-swap-oob="innerHTML">{timeline}</div>'
    )


# --- the console's Unrouted page and count ---------------------------------------------------


def unrouted_row(task_id: str, *, flash: bool = False, oob: bool = False) -> str:
    """A task's row on Unrouted ("" if it is not unrouted any more)."""
    task = console.unrouted_task(task_id=task_id)
    if task is None:
        return ""
    return render_to_string(
        "workflows_ui/unrouted.html#unrouted-row", {"t": task, "flash": flash, "oob": oob}
    )


def unrouted_removal(task_id: str) -> str:
    return format_html('<tr id="unrouted-row-{}" hx-swap-oob="delete"></tr>', task_id)


def unrouted_count(n: int) -> str:
    return render_to_string("_nav_console.html#count-unrouted", {"n": n, "oob": True})
