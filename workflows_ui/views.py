"""The admin and manager console. Views authorize, call one selector or service, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from pages.htmx import HtmxHttpRequest, page_or_partial
from workflows import actions, outbox
from workflows import selectors as core
from workflows.labels import People, step_label, workflow_label
from workflows.models import HumanTask, OutboxCommand, WorkflowInstance
from workflows.roles import can_manage, console_admin, console_reader
from workflows.timeline import TIMELINE_KINDS, Kind, timeline_entries
from workflows_ui import charts, exports, reports, selectors
from workflows_ui.forms import (
    AuditFilterForm,
    BulkCancelForm,
    CancelForm,
    EventExportFilterForm,
    HistoryFilterForm,
    InstanceFilterForm,
    PauseForm,
    ReportFilterForm,
    ResumeForm,
    UnroutedAssignForm,
    UnroutedBulkAssignForm,
)

ACTION_FORMS = {"cancel": CancelForm, "pause": PauseForm, "resume": ResumeForm}


# --- instances -------------------------------------------------------------------------------


@console_reader
def instance_list(request: HtmxHttpRequest) -> HttpResponse:
    form = InstanceFilterForm(request.GET or None, workflow_names=selectors.workflow_names())
    filters = form.filters()
    page = selectors.instance_page(filters=filters, cursor=request.GET.get("cursor"))
    context = {
        "people": People.of(i.initiator for i in page.items),
        "form": form,
        "filters": filters,
        "page": page,
        "chips": selectors.status_counts(filters=filters),
        "can_manage": can_manage(request.user),
        "nav_active": "instances",
    }
    return render(
        request, page_or_partial(request, "workflows_ui/instances.html", "results"), context
    )


def _local_url(request: HttpRequest, url: str | None) -> str | None:
    """``url`` if it is a path on this site, else None: ``next`` must not send people away
    (and is never read as a URL name, as ``redirect`` would)."""
    if (
        url
        and url.startswith("/")
        and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return url
    return None


@console_admin
@require_POST
def bulk_cancel(request: HtmxHttpRequest) -> HttpResponse:
    """First POST asks for confirmation; the POST with ``confirm`` cancels, row by row."""
    form = BulkCancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Select at least one instance and give a reason to cancel.")
        return HttpResponseRedirect(
            _local_url(request, request.POST.get("next")) or reverse("workflows_ui:instances")
        )
    ids: list[str] = form.cleaned_data["instance"]
    reason: str = form.cleaned_data["reason"]
    if request.POST.get("confirm") != "yes":
        instances = WorkflowInstance.objects.filter(instance_id__in=[i for i in ids if _is_uuid(i)])
        return render(
            request,
            "workflows_ui/bulk_cancel.html",
            {
                "form": form,
                "instances": instances,
                "ids": ids,
                "reason": reason,
                "nav_active": "instances",
                "confirming": True,
            },
        )
    try:
        results = actions.bulk_cancel(instance_ids=ids, user=request.user, reason=reason)
    except actions.ActionRefused as exc:
        messages.error(request, exc.message)
        return redirect(reverse("workflows_ui:instances"))
    return render(
        request,
        "workflows_ui/bulk_cancel.html",
        {
            "results": results,
            "reason": reason,
            "nav_active": "instances",
            "ok_count": sum(r.ok for r in results),
        },
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- one instance ----------------------------------------------------------------------------


def _get_instance(instance_id: uuid.UUID) -> WorkflowInstance:
    instance = selectors.instance_get(instance_id=instance_id)
    if instance is None:
        raise Http404("No such workflow instance.")
    return instance


def _kinds(request: HttpRequest) -> list[Kind]:
    chosen = [k for k in request.GET.getlist("kind") if k in TIMELINE_KINDS]
    return chosen or list(TIMELINE_KINDS)


@console_reader
def instance_detail(request: HtmxHttpRequest, instance_id: uuid.UUID) -> HttpResponse:
    instance = _get_instance(instance_id)
    kinds = _kinds(request)
    steps = selectors.instance_steps(instance_id=instance_id)
    tasks = selectors.instance_tasks(instance_id=instance_id)
    now = selectors.now()
    commands = core.latest_commands(instance_id=instance_id)
    context: dict[str, Any] = {
        "instance": instance,
        "people": People.of(
            [
                instance.initiator,
                instance.canceled_by,
                instance.paused_by,
                *(t.assignee for t in tasks),
                *(c.command.actor for c in commands),
            ]
        ),
        "timeline": core.instance_timeline(
            instance_id=instance_id, viewer=request.user, kinds=kinds
        ),
        "kinds": kinds,
        "all_kinds": TIMELINE_KINDS,
        "open_tasks": [t for t in tasks if t.is_open],
        "chart": charts.step_chart(
            instance=instance,
            steps=steps,
            tasks=tasks,
            reassigned_at=selectors.reassignment_times(instance_id=instance_id),
            now=now,
        ),
        "can_manage": can_manage(request.user),
        "actions": actions.allowed_actions(instance),
        "engine_commands": commands,
        "now": now,
        "nav_active": "instances",
    }
    return render(
        request, page_or_partial(request, "workflows_ui/instance.html", "timeline"), context
    )


@console_admin
@require_http_methods(["GET", "POST"])
def instance_action(request: HtmxHttpRequest, instance_id: uuid.UUID, action: str) -> HttpResponse:
    """GET shows the confirmation; POST performs the action or says why it cannot."""
    if action not in ACTION_FORMS:
        raise Http404("No such action.")
    instance = _get_instance(instance_id)
    form = ACTION_FORMS[action](request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            actions.perform_action(
                action=action,
                instance_id=instance_id,
                user=request.user,
                reason=form.cleaned_data.get("reason", ""),
            )
        except actions.ActionRefused as exc:
            error = exc.message
        else:
            messages.success(request, f"Workflow {actions.PAST[action]}.")
            url = reverse("workflows_ui:instance_detail", args=[instance_id])
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
    elif request.method == "GET" and action not in actions.allowed_actions(instance):
        error = actions._state_message(action, instance)
    status = 409 if error and request.method == "POST" else 200
    context = {
        "instance": instance,
        "action": action,
        "form": form,
        "error": error,
        "engine_note": (
            "A command is then sent to the engine; this workflow's page shows whether it arrived."
            if outbox.enabled()
            else "It is recorded here only: no engine is configured to be told."
        ),
        "nav_active": "instances",
    }
    return render(
        request,
        page_or_partial(request, "workflows_ui/instance_action.html", "confirm"),
        context,
        status=status,
    )


# --- unrouted queue --------------------------------------------------------------------------


@console_admin
def unrouted(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request,
        page_or_partial(request, "workflows_ui/unrouted.html", "results"),
        _unrouted_context(request),
    )


def _unrouted_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    paginator = Paginator(selectors.unrouted_tasks(), selectors.UNROUTED_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return {"page": page, "nav_active": "unrouted", **extra}


def _unrouted_news(request: HttpRequest, said: list[tuple[bool, str]], **row: Any) -> HttpResponse:
    """An htmx answer to an inline assignment: what happened (the page's status line, the
    request's target), and out of band the row (``gone``: its id, to remove it; or ``t``,
    ``error``, ``value``: it again, with the problem) and the navigation's count."""
    return render(
        request,
        "workflows_ui/unrouted.html#unrouted-news",
        {"said": said, "n_unrouted": selectors.unrouted_count(), **row},
    )


@console_admin
@require_POST
def unrouted_assign(request: HtmxHttpRequest, task_id: uuid.UUID) -> HttpResponse:
    """Route one task from its row. htmx: the row goes in place (or comes back with the
    problem); otherwise back to Unrouted with a message. Never to My tasks."""
    task = get_object_or_404(HumanTask.objects.select_related("instance"), task_id=task_id)
    form = UnroutedAssignForm(request.POST)
    to = ""
    if not form.is_valid():
        error = "Name a person or team to assign this task to."
    else:
        to = form.cleaned_data["to_assignee"]
        error = _route(request, task, to, form.cleaned_data["reason"])
    if not error:
        said = f"Assigned “{task}” to {People.of([to]).label(to)}."
        if request.htmx:
            return _unrouted_news(request, [(True, said)], gone=task.task_id)
        messages.success(request, said)
        return redirect("workflows_ui:unrouted")
    if not request.htmx:
        messages.error(request, error)
        return redirect("workflows_ui:unrouted")
    fresh = selectors.unrouted_task(task_id=task_id)
    if fresh is None:  # routed or closed meanwhile: the row goes, the reason is said
        return _unrouted_news(request, [(False, error)], gone=task_id)
    return _unrouted_news(
        request, [], t=fresh, error=error, value=request.POST.get("to_assignee", "")
    )


def _route(request: HttpRequest, task: HumanTask, to: str, reason: str) -> str:
    """Route ``task``; "" when done, else why not."""
    try:
        actions.route_task(task=task, user=request.user, to_assignee=to, reason=reason)  # type: ignore[arg-type]
    except actions.TaskConflict as exc:
        return f"“{task}”: {actions.describe_task_state(exc.task)}"
    except actions.ActionRefused as exc:
        return exc.message
    return ""


@console_admin
@require_POST
def unrouted_bulk_assign(request: HtmxHttpRequest) -> HttpResponse:
    """Route the selected tasks to one person or team, each on its own; each says how it
    went. htmx: the list again, with the results; otherwise back to it with messages."""
    form = UnroutedBulkAssignForm(request.POST)
    said: list[tuple[bool, str]] = []
    if not form.is_valid():
        said.append((False, "Select at least one task and name a person or team."))
    else:
        to = form.cleaned_data["to_assignee"]
        ids = list(dict.fromkeys(form.cleaned_data["task"]))
        found = {
            str(t.task_id): t
            for t in HumanTask.objects.select_related("instance").filter(
                task_id__in=[i for i in ids if _is_uuid(i)]
            )
        }
        name = People.of([to]).label(to)
        for raw in ids:
            task = found.get(str(uuid.UUID(raw))) if _is_uuid(raw) else None
            if task is None:
                said.append((False, "A selected task does not exist."))
                continue
            error = _route(request, task, to, form.cleaned_data["reason"])
            said.append((not error, error or f"Assigned “{task}” to {name}."))
    if not request.htmx:
        for ok, text in said:
            (messages.success if ok else messages.error)(request, text)
        return redirect("workflows_ui:unrouted")
    context = _unrouted_context(request, said=said, n_unrouted=selectors.unrouted_count(), oob=True)
    return render(request, "workflows_ui/unrouted.html#bulk-answer", context)


# --- outbox: commands for the engine ---------------------------------------------------------


@console_admin
def outbox_page(request: HtmxHttpRequest) -> HttpResponse:
    """Commands not yet delivered (pending, failed, dead), newest first, with a retry for the
    dead ones."""
    page = Paginator(core.outbox_commands(), 50).get_page(request.GET.get("page"))
    rows = [core.CommandState(c, outbox.command_state(c)) for c in page.object_list]
    return render(
        request,
        page_or_partial(request, "workflows_ui/outbox.html", "results"),
        {
            "page": page,
            "rows": rows,
            "engine_configured": outbox.enabled(),
            "backend": outbox.backend(),
            "nav_active": "outbox",
        },
    )


@console_admin
@require_POST
def outbox_retry(request: HtmxHttpRequest, command_pk: int) -> HttpResponse:
    command = get_object_or_404(OutboxCommand, pk=command_pk)
    if outbox.retry(command):
        what = command.action or command.kind
        messages.success(request, f"The {what} command will be sent again.")
    else:
        messages.warning(request, f"That command is not dead: {outbox.command_state(command)}.")
    return redirect("workflows_ui:outbox")


# --- history ---------------------------------------------------------------------------------


@console_reader
def history(request: HtmxHttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET or None, names=selectors.history_names())
    filters = form.filters()
    page = Paginator(selectors.task_history(filters=filters), 50).get_page(request.GET.get("page"))
    # The page's names at once (two queries, whatever its number of rows).
    people = People.of(
        name
        for t in page.object_list
        for name in (t.completed_by, t.assignee, t.last_reassigned_by)
    )
    return render(
        request,
        page_or_partial(request, "workflows_ui/history.html", "results"),
        {"form": form, "page": page, "people": people, "nav_active": "history"},
    )


@console_reader
def audit(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None, names=selectors.history_names())
    filters = form.filters()
    page = Paginator(selectors.audit_events(filters=filters), 50).get_page(request.GET.get("page"))
    events = list(page.object_list)
    context = {
        "form": form,
        "page": page,
        "entries": _audit_entries(events, viewer=request.user),
        "filtered": bool(filters),
        "nav_active": "history",
    }
    return render(request, page_or_partial(request, "workflows_ui/audit.html", "results"), context)


def _audit_entries(events: list[Any], *, viewer: Any) -> list[tuple[Any, str]]:
    events = core.events_for(events, viewer=viewer)
    titles = selectors.event_titles(events)
    names = selectors.instance_names({e.instance_id for e in events})
    entries = timeline_entries(events, titles, names=core.timeline_people(events))
    entries.reverse()  # newest first, as the page lists them
    return [(entry, names.get(entry.event.instance_id, "Unknown workflow")) for entry in entries]


@console_reader
def person_activity(request: HtmxHttpRequest, username: str) -> HttpResponse:
    activity = selectors.person_activity(username=username)
    person = People.of([username])[username]
    completed = Paginator(activity.completed, 25).get_page(request.GET.get("page"))
    actions = list(activity.actions[:100])
    return render(
        request,
        "workflows_ui/person.html",
        {
            "activity": activity,
            "person": person,
            "completed": completed,
            "entries": _audit_entries(actions, viewer=request.user),
            "nav_active": "history",
        },
    )


# --- reports ---------------------------------------------------------------------------------


@console_reader
def report(request: HtmxHttpRequest) -> HttpResponse:
    filters = ReportFilterForm(request.GET).filters()
    workflow = filters.get("workflow", "")
    data = reports.build_report(filters=filters, now=selectors.now())
    status_chart = charts.bar_chart(
        [
            (
                workflow_label(r.workflow_name),
                [(s, n, f"status-{s}") for s, n in r.status_counts() if n],
            )
            for r in data.workflows
        ]
    )
    cycle_chart = charts.bar_chart(
        [
            (
                f"{workflow_label(r.workflow_name)} · {step_label(r.step_name)}",
                [("median", r.median_cycle, "median")],
            )
            # A step with no completed task has no cycle time: the table says "—"; a bar
            # would say "0 s", as if it took no time.
            for r in data.steps
            if r.median_cycle is not None
        ],
        value_text="duration",
        stacked=False,
    )
    per_day_chart = charts.column_chart([(f"{d:%m-%d}", n) for d, n in data.per_day])
    return render(
        request,
        "workflows_ui/reports.html",
        {
            "report": data,
            "status_chart": status_chart,
            "cycle_chart": cycle_chart,
            "per_day_chart": per_day_chart,
            "workflow": workflow,
            "workflow_names": selectors.workflow_names(),
            "nav_active": "reports",
        },
    )


# --- exports ---------------------------------------------------------------------------------


@console_reader
def export_instances(request: HttpRequest) -> StreamingHttpResponse:
    form = InstanceFilterForm(request.GET or None, workflow_names=selectors.workflow_names())
    qs = selectors.instance_list(filters=form.filters()).order_by("-started_at", "-id")
    return exports.export(
        kind="instances",
        queryset=qs,
        fields=exports.INSTANCE_FIELDS,
        stamp=selectors.now(),
        human=exports.INSTANCE_HUMAN,
    )


@console_reader
def export_tasks(request: HttpRequest) -> StreamingHttpResponse:
    filters = HistoryFilterForm(request.GET or None).filters()
    qs = selectors.task_history(filters=filters)
    return exports.export(
        kind="tasks",
        queryset=qs,
        fields=exports.TASK_FIELDS,
        stamp=selectors.now(),
        human=exports.TASK_HUMAN,
    )


@console_reader
def export_events(request: HttpRequest) -> StreamingHttpResponse:
    filters = EventExportFilterForm(request.GET or None).filters()
    qs = selectors.export_events(filters=filters, audit_only=request.GET.get("scope") != "all")
    return exports.export_events(queryset=qs, viewer=request.user, stamp=selectors.now())
