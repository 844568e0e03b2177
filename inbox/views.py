"""Assignee pages: thin views that authorize, call one selector or service, and render."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from inbox import selectors
from inbox.forms import (
    AssigneeSearchForm,
    CompletionForm,
    PreferencesForm,
    ReassignForm,
    TaskFilterForm,
    focus_first_error,
)
from pages.htmx import HtmxHttpRequest, page_or_partial
from workflows import actions
from workflows import selectors as core
from workflows.labels import People
from workflows.models import HumanTask
from workflows.preferences import preferences_for, save_preferences
from workflows.roles import can_manage, can_read

# The three task lists: the name of the selector behind each page's table.
TASK_LISTS = {"mine": "my_tasks", "queue": "team_queue", "done": "done_tasks"}


def _list_page(
    request: HtmxHttpRequest,
    *,
    mode: str,
    filters: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    select = getattr(selectors, TASK_LISTS[mode])
    page = Paginator(select(user=request.user, filters=filters), selectors.PAGE_SIZE).get_page(
        filters.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "mode": mode,
        "nav_active": mode,
        "page": page,
        "filters": filters,
        "filter_form": TaskFilterForm(request.GET),
        "query": query.urlencode(),
        "workflows": selectors.workflow_names(select(user=request.user, filters={})),
        "groups": selectors.user_groups(request.user) if mode == "queue" else None,
        "bulk_results": None,
        **(extra or {}),
    }
    return render(request, page_or_partial(request, "inbox/task_list.html", "task-table"), context)


@login_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """Where signing in lands, by role: an admin's work is the console, a manager's the
    history, everyone else's My tasks. (A ``next`` given at sign-in wins.)"""
    if can_manage(request.user):
        return redirect("workflows_ui:instances")
    if can_read(request.user):
        return redirect("workflows_ui:history")
    return redirect("my_tasks")


@login_required
@require_GET
def my_tasks(request: HtmxHttpRequest) -> HttpResponse:
    return _list_page(request, mode="mine", filters=TaskFilterForm(request.GET).filters())


@login_required
@require_GET
def team_queues(request: HtmxHttpRequest) -> HttpResponse:
    return _list_page(request, mode="queue", filters=TaskFilterForm(request.GET).filters())


@login_required
@require_GET
def done(request: HtmxHttpRequest) -> HttpResponse:
    return _list_page(request, mode="done", filters=TaskFilterForm(request.GET).filters())


def _task_context(request: HttpRequest, task: HumanTask, **extra: Any) -> dict[str, Any]:
    can_act = core.may_act(request.user, task)
    workflow = actions.workflow_state(task.instance)
    holders = core.holders(task)
    commands = core.latest_commands(task_id=task.task_id)
    # Every name the page shows, resolved at once: full names, usernames on hover.
    people = People.of(
        [
            task.completed_by,
            task.last_reassigned_by,
            task.previous_assignee,
            task.assignee,
            *holders,
            *(c.command.actor for c in commands),
        ]
    )
    context = {
        "task": task,
        "instance": task.instance,
        "workflow": workflow,
        "can_act": can_act,
        "holders": holders,
        "people": people,
        "timeline": core.instance_timeline(instance_id=task.instance_id, viewer=request.user),
        "release_group": actions.release_group(task) if can_act else None,
        "can_claim": can_act and task.assignee_group_id is not None,
        "engine_commands": commands,
        # The console's instance page, for those who may read the console (else it is a 404).
        "console_link": can_read(request.user),
        "nav_active": "task",
    }
    if can_act:
        context.setdefault("complete_form", CompletionForm(schema=task.form_schema))
        context.setdefault("reassign_form", ReassignForm())
    context.update(extra)
    form = context.get("complete_form")
    if isinstance(form, CompletionForm) and not workflow.can_complete:
        form.hold()
    return context


@login_required
@require_GET
def task_detail(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = core.task_detail(user=request.user, task_id=task_id)
    extra: dict[str, Any] = {}
    if (
        request.GET.get(JUST_COMPLETED)
        and task.status == HumanTask.Status.COMPLETED
        and task.completed_by_user_id == request.user.pk
    ):
        # Just completed here: offer the next task of My tasks (no navigation by itself).
        extra = {"just_completed": True, "next_task": selectors.next_task(user=request.user)}
    return render(request, "inbox/task_detail.html", _task_context(request, task, **extra))


# The task page's query parameter after its completion: the page offers the next task.
JUST_COMPLETED = "completed"


def _after_action(request: HtmxHttpRequest, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _conflict(request: HtmxHttpRequest, task: HumanTask, exc: Exception) -> HttpResponse:
    messages.warning(request, str(exc))
    return _after_action(request, reverse("task_detail", args=[task.task_id]))


@login_required
@require_POST
def task_complete(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = core.actionable_task(user=request.user, task_id=task_id)
    if not task.is_open:
        return _conflict(request, task, actions.TaskConflict(task))
    form = CompletionForm(request.POST, schema=task.form_schema)
    if not actions.workflow_state(task.instance).can_complete:
        return _workflow_refusal(request, task, form)
    if not form.is_valid():
        focus_first_error(form)
        context = _task_context(request, task, complete_form=form)
        template = page_or_partial(request, "inbox/task_detail.html", "complete-form")
        return render(request, template, context, status=422 if not request.htmx else 200)
    try:
        actions.complete_task(
            task=task,
            user=request.user,
            form_data=form.form_data() if task.form_schema else None,
            comment=form.cleaned_data.get("comment", ""),
        )
    except actions.WorkflowNotActive:
        # Paused (or ended) since this request read the task: show it as it is now.
        task = core.task_detail(user=request.user, task_id=task_id)
        return _workflow_refusal(request, task, form)
    except (actions.TaskConflict, actions.ActionRefused) as exc:
        return _conflict(request, task, exc)
    messages.success(request, f"Completed “{task}”.")
    url = reverse("task_detail", args=[task.task_id])
    return _after_action(request, f"{url}?{JUST_COMPLETED}=1")


def _workflow_refusal(
    request: HtmxHttpRequest, task: HumanTask, form: CompletionForm
) -> HttpResponse:
    """Completion refused by the workflow's state (paused, ended): 409, the page (or the
    form's partial, for htmx) with the banner, the refusal and what the person typed, held.

    htmx swaps no error response, so it gets the partial with 200, as a 422 does."""
    if not task.is_open:
        return _conflict(request, task, actions.TaskConflict(task))
    state = actions.workflow_state(task.instance)
    context = _task_context(request, task, complete_form=form, refusal=state.message)
    template = page_or_partial(request, "inbox/task_detail.html", "complete-form")
    return render(request, template, context, status=409 if not request.htmx else 200)


@login_required
@require_POST
def task_reassign(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = core.actionable_task(user=request.user, task_id=task_id)
    if not task.is_open:
        return _conflict(request, task, actions.TaskConflict(task))
    form = ReassignForm(request.POST)
    if form.is_valid():
        try:
            actions.reassign_task(
                task=task,
                user=request.user,
                to_assignee=form.cleaned_data["to_assignee"],
                reason=form.cleaned_data["reason"],
            )
        except actions.TaskConflict as exc:
            return _conflict(request, task, exc)
        except actions.ActionRefused as exc:
            form.add_error("to_assignee", str(exc))
        else:
            to = form.cleaned_data["to_assignee"]
            messages.success(request, f"Reassigned “{task}” to {People.of([to]).label(to)}.")
            return _after_action(request, reverse("my_tasks"))
    focus_first_error(form)
    context = _task_context(request, task, reassign_form=form)
    template = page_or_partial(request, "inbox/task_detail.html", "reassign-form")
    return render(request, template, context, status=422 if not request.htmx else 200)


@login_required
@require_POST
def task_claim(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = core.actionable_task(user=request.user, task_id=task_id)
    try:
        actions.claim_task(task=task, user=request.user)
    except (actions.TaskConflict, actions.ActionRefused) as exc:
        return _conflict(request, task, exc)
    messages.success(request, f"“{task}” is yours now.")
    return _after_action(request, reverse("task_detail", args=[task.task_id]))


@login_required
@require_POST
def task_release(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    task = core.actionable_task(user=request.user, task_id=task_id)
    try:
        actions.release_task(task=task, user=request.user)
    except (actions.TaskConflict, actions.ActionRefused) as exc:
        return _conflict(request, task, exc)
    messages.success(request, f"“{task}” is back in its team queue.")
    return _after_action(request, reverse("my_tasks"))


def _selected_tasks(request: HttpRequest) -> tuple[list[HumanTask], int]:
    """The selected tasks this person may see, and how many others were selected."""
    ids = set()
    for raw in request.POST.getlist("task"):
        try:
            ids.add(uuid.UUID(raw))
        except ValueError:
            continue
    tasks = core.visible_tasks(user=request.user).filter(task_id__in=ids)
    found = list(tasks.select_related("assignee_group", "instance"))
    return found, len(ids) - len(found)


GONE = "A selected task is no longer in your inbox or queues: someone else took it first."


@login_required
@require_POST
def bulk_action(request: HtmxHttpRequest) -> HttpResponse:
    """Claim or reassign several tasks at once; each row gets its own result."""
    action = request.POST.get("action")
    tasks, gone = _selected_tasks(request)
    results: list[dict[str, Any]] = []
    reassign_form = ReassignForm(request.POST) if action == "reassign" else None
    problem = None
    if not tasks and not gone:
        problem = "Select at least one task first."
    elif reassign_form is not None and not reassign_form.is_valid():
        problem = "To reassign, name a person or team and give a reason."
    else:
        for task in tasks:
            results.append(_bulk_one(request, task, action, reassign_form))
        # Tasks taken by someone else since the page was shown: say so, without details.
        results += [{"task": None, "ok": False, "message": GONE}] * gone
    if problem and request.htmx:
        # Only the table is swapped in, so the problem is said there, not as a message.
        results.append({"task": None, "ok": False, "message": problem})
    elif problem:
        messages.warning(request, problem)
    back = reverse("team_queues" if action == "claim" else "my_tasks")
    if not request.htmx:
        for r in results:
            (messages.success if r["ok"] else messages.warning)(request, r["message"])
        return redirect(back)
    return _list_page(
        request,
        mode="queue" if action == "claim" else "mine",
        filters=TaskFilterForm(request.GET).filters(),
        extra={"bulk_results": results},
    )


def _bulk_one(
    request: HtmxHttpRequest, task: HumanTask, action: str | None, form: ReassignForm | None
) -> dict[str, Any]:
    if not task.is_open:
        message = actions.describe_task_state(task)
        return {"task": task, "ok": False, "message": f"“{task}”: {message}"}
    if not core.may_act(request.user, task):
        return {"task": task, "ok": False, "message": f"“{task}”: you cannot act on this task."}
    try:
        if action == "claim":
            actions.claim_task(task=task, user=request.user)
            return {"task": task, "ok": True, "message": f"Claimed “{task}”."}
        if action == "reassign" and form is not None:
            to = form.cleaned_data["to_assignee"]
            actions.reassign_task(
                task=task, user=request.user, to_assignee=to, reason=form.cleaned_data["reason"]
            )
            name = People.of([to]).label(to)
            return {"task": task, "ok": True, "message": f"Reassigned “{task}” to {name}."}
    except (actions.TaskConflict, actions.ActionRefused) as exc:
        return {"task": task, "ok": False, "message": f"“{task}”: {exc}"}
    return {"task": task, "ok": False, "message": "Unknown action."}


@login_required
@require_GET
def assignee_search(request: HttpRequest) -> HttpResponse:
    """Options for the reassign picker, as the user types."""
    results = selectors.assignee_search(query=AssigneeSearchForm(request.GET).query())
    return render(request, "inbox/task_detail.html#assignee-options", {"options": results})


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The person's own settings: time zone and email notifications."""
    current = preferences_for(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            save_preferences(request.user, **form.cleaned_data)
            messages.success(request, "Your settings are saved.")
            return redirect("settings")
    else:
        form = PreferencesForm(
            initial={
                "time_zone": current.time_zone,
                "notify_assigned": current.notify_assigned,
                "notify_digest": current.notify_digest,
            }
        )
    return render(
        request,
        "inbox/settings.html",
        {"form": form, "nav_active": "settings"},
    )
