"""Saving and renaming a view: the name's rules, and the page's filters as its own filter
form accepts them (normalised: only that page's filter parameters, no page or cursor)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.db.models import Value
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils.http import urlencode

from inbox import selectors as inbox_selectors
from savedviews.models import NAME_MAX_LENGTH, SavedView
from savedviews.pages import PAGES, query_text
from workflows.jsonvalues import printable, text_problem

QUERY_MAX_LENGTH = 8000  # far above what the pages' filters can hold (their max lengths)
MAX_VIEWS = 30  # per person: the navigation lists them all and counts them in one query


class FiltersRefused(ValueError):
    pass


def normalise(*, page: str, query: str, user: User) -> str:
    """The page's filters in ``query`` as a canonical query string: only the page's filter
    parameters, in a fixed order, as its filter form cleaned them; anything else (the page
    number, the cursor, unknown parameters) is dropped. Raises ``FiltersRefused`` naming
    every filter the page's form rejects."""
    spec = PAGES[page]
    given = QueryDict(query.lstrip("?"))
    data = QueryDict(mutable=True)
    for param in spec.params:
        values = given.getlist(param)
        if values:
            data.setlist(param, values[-1:])  # the page reads the last of a repeated one
    form = spec.form(data, {})
    form.is_valid()
    problems = []
    for param in spec.params:
        for message in form.errors.get(param, []):
            label = form.fields[param].label or param.capitalize()
            problems.append(f"{label} “{printable(data.get(param, ''))}”: {message}")
    if problems:
        raise FiltersRefused("These filters cannot be saved. " + " ".join(problems))
    cleaned = form.cleaned_data
    group = cleaned.get("group") if page == SavedView.Page.TEAM_QUEUES else None
    if group and not inbox_selectors.user_groups(user).filter(name=group).exists():
        raise FiltersRefused(f"You are not in a team named “{group}”.")
    pairs = [
        (param, query_text(cleaned[param]))
        for param in spec.params
        if cleaned.get(param) not in (None, "")
    ]
    return urlencode(pairs)


class _NameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        error_messages={"required": "Give the view a name."},
    )

    def __init__(self, *args: Any, user: User, view: SavedView | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user, self.view = user, view
        self.fields["name"].widget.attrs.update({"maxlength": NAME_MAX_LENGTH})

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if problem := text_problem(name):
            raise forms.ValidationError(f"This name cannot be stored: {problem}.")
        taken = (
            SavedView.objects.filter(owner=self.user)
            .annotate(lname=Lower("name"))
            .filter(lname=Lower(Value(name)))
        )
        if self.view is not None:
            taken = taken.exclude(pk=self.view.pk)
        if taken.exists():
            raise forms.ValidationError(f"You already have a view named “{name}”.")
        return name


class SaveViewForm(_NameForm):
    page = forms.ChoiceField(choices=SavedView.Page.choices)
    query = forms.CharField(required=False, strip=False, max_length=QUERY_MAX_LENGTH)

    def clean_page(self) -> str:
        page: str = self.cleaned_data["page"]
        if not PAGES[page].allowed(self.user):
            raise forms.ValidationError("You cannot save views of this page.")
        return page

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if SavedView.objects.filter(owner=self.user).count() >= MAX_VIEWS:
            raise forms.ValidationError(
                f"You have {MAX_VIEWS} saved views, the most one person can keep: delete one first."
            )
        page = cleaned.get("page")
        if page and "query" in cleaned:
            try:
                cleaned["query"] = normalise(page=page, query=cleaned["query"], user=self.user)
            except FiltersRefused as exc:
                self.add_error("query", str(exc))
        return cleaned


class RenameViewForm(_NameForm):
    pass
