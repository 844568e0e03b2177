"""Saved views: save the current filters of a page under a name, rename, delete.

Thin views: the forms validate (savedviews.forms), the services write, the selectors read.
htmx gets the changed region and the navigation's views out of band; without htmx a
success redirects and a refusal is the management page with the errors (422).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from pages.htmx import HtmxHttpRequest
from savedviews import selectors, services
from savedviews.forms import RenameViewForm, SaveViewForm
from savedviews.models import SavedView
from savedviews.pages import PAGES

NAV = "savedviews/_nav_views.html#nav-views"
PAGE = "savedviews/views.html"


def _nav_oob(request: HtmxHttpRequest) -> str:
    context = {"nav_views": selectors.nav_views(request.user), "oob": True, "request": request}
    return render_to_string(NAV, context)


def _manage_context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    rename_forms = extra.pop("rename_forms", {})
    items = [
        (
            row,
            rename_forms.get(row.pk)
            or RenameViewForm(initial={"name": row.view.name}, user=request.user, view=row.view),
        )
        for row in selectors.nav_views(request.user)
    ]
    return {"items": items, "nav_active": "views", **extra}


@login_required
@require_GET
def manage(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, PAGE, _manage_context(request))


@login_required
@require_POST
def create(request: HtmxHttpRequest) -> HttpResponse:
    form = SaveViewForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            view = services.save_view(
                user=request.user, page=data["page"], name=data["name"], query=data["query"]
            )
        except services.NameTaken:
            form.add_error("name", f"You already have a view named “{data['name']}”.")
        else:
            return _saved(request, view)
    page = request.POST.get("page", "")
    context = {
        "save_form": form,
        "save_page": page,
        "save_query": request.POST.get("query", ""),
    }
    if request.htmx:
        return render(request, "savedviews/_save.html#save-view-form", context)
    spec = PAGES.get(page)
    back = spec.url(request.POST.get("query", "").lstrip("?")) if spec else None
    return render(request, PAGE, _manage_context(request, refused=form, back=back), status=422)


def _saved(request: HtmxHttpRequest, view: SavedView) -> HttpResponse:
    url = PAGES[view.page].url(view.query)
    if not request.htmx:
        messages.success(request, f"Saved the view “{view.name}”.")
        return redirect(url)
    context = {
        "save_page": view.page,
        "save_query": view.query,
        "saved_view": view,
        "saved_url": url,
    }
    form = render_to_string("savedviews/_save.html#save-view-form", context, request=request)
    return HttpResponse(form + _nav_oob(request))


@login_required
@require_POST
def rename(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = selectors.own_view(user=request.user, view_id=view_id)
    old = view.name
    form = RenameViewForm(request.POST, user=request.user, view=view)
    if form.is_valid():
        try:
            services.rename_view(view=view, name=form.cleaned_data["name"])
        except services.NameTaken:
            form.add_error("name", f"You already have a view named “{form.cleaned_data['name']}”.")
        else:
            note = f"Renamed “{old}” to “{view.name}”."
            if not request.htmx:
                messages.success(request, note)
                return redirect("saved_views")
            return _manage_region(request, note)
    view.name = old
    if request.htmx:
        return _manage_region(request, "", rename_forms={view.pk: form})
    return render(request, PAGE, _manage_context(request, rename_forms={view.pk: form}), status=422)


@login_required
@require_POST
def delete(request: HtmxHttpRequest, view_id: int) -> HttpResponse:
    view = selectors.own_view(user=request.user, view_id=view_id)
    name = view.name
    services.delete_view(view=view)
    note = f"Deleted the view “{name}”."
    if not request.htmx:
        messages.success(request, note)
        return redirect("saved_views")
    return _manage_region(request, note)


def _manage_region(request: HtmxHttpRequest, note: str, **extra: Any) -> HttpResponse:
    """The management list (with its note) and the navigation's views, for htmx."""
    context = _manage_context(request, note=note, **extra)
    html = render_to_string(f"{PAGE}#view-list", context, request=request)
    return HttpResponse(html + _nav_oob(request))
