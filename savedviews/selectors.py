"""Reads: a person's views, and how many items each one's page lists, in one query."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import IntegerField, QuerySet, Subquery
from django.http import Http404, QueryDict

from savedviews.models import SavedView
from savedviews.pages import PAGES


class _CountOf(Subquery):
    """``SELECT COUNT(*)`` of a queryset, as a scalar subquery: whatever its joins."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


def views_for(user: User, pages: Iterable[str] | None = None) -> list[SavedView]:
    """The person's views, in their order; views of a page they may no longer open
    (Instances, once not an admin or manager) are left out, not deleted."""
    qs: QuerySet[SavedView] = SavedView.objects.filter(owner=user)
    if pages is not None:
        qs = qs.filter(page__in=list(pages))
    return [v for v in qs if PAGES[v.page].allowed(user)]


def has_views(user: User, pages: Iterable[str]) -> bool:
    return SavedView.objects.filter(owner=user, page__in=list(pages)).exists()


def own_view(*, user: User, view_id: int) -> SavedView:
    """One of this person's views; anyone else's is a 404."""
    view = SavedView.objects.filter(owner=user, pk=view_id).first()
    if view is None:
        raise Http404("No such saved view.")
    return view


def rows(user: User, view: SavedView, extra: dict[str, Any]) -> QuerySet[Any]:
    """The items the view's page lists for these filters: the page's own form and selector."""
    spec = PAGES[view.page]
    form = spec.form(QueryDict(view.query), extra)
    return spec.rows(user, spec.filters(form))


def counts(user: User, views: list[SavedView]) -> dict[int, int]:
    """How many items each view's page lists (all pages of it), by view id: one query for
    all of them (plus the workflow names an Instances view's form reads)."""
    if not views:
        return {}
    extra: dict[str, Any] = {}  # shared by the views' forms: the workflow names, read once
    columns = {f"v{v.pk}": _CountOf(rows(user, v, extra).order_by().values("pk")) for v in views}
    found = get_user_model().objects.filter(pk=user.pk).values(**columns).first()
    row: dict[str, Any] = dict(found) if found else {}
    return {v.pk: int(row.get(f"v{v.pk}") or 0) for v in views}


@dataclass(frozen=True)
class NavView:
    view: SavedView
    url: str
    count: int

    @property
    def pk(self) -> int:
        return int(self.view.pk)


def nav_views(user: User, pages: Iterable[str] | None = None) -> list[NavView]:
    """The person's views for the navigation: each with its page's URL and its count."""
    views = views_for(user, pages)
    n = counts(user, views)
    return [NavView(view=v, url=PAGES[v.page].url(v.query), count=n[v.pk]) for v in views]
