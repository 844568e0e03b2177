"""Filter and action forms of the console. Filters are GET forms, so a URL is a view."""

from __future__ import annotations

from typing import Any

from django import forms

from pages.forms import search_field
from workflows.actions import INSTANCE_REASON_MAX_LENGTH
from workflows.events import EVENT_TYPES
from workflows.models import WorkflowInstance

SORT_CHOICES = [
    ("-started", "Newest started first"),
    ("started", "Oldest started first"),
    ("-activity", "Most recent activity first"),
    ("-duration", "Longest duration first"),
    ("duration", "Shortest duration first"),
]


class InstanceFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *WorkflowInstance.Status.choices]
    )
    workflow = forms.ChoiceField(required=False, label="Workflow")
    # Exact values as engines send them, spaces and all.
    version = forms.CharField(required=False, max_length=50, strip=False)
    tenant = forms.CharField(required=False, max_length=200, strip=False)
    initiator = forms.CharField(required=False, max_length=200, strip=False)
    started_from = forms.DateField(
        required=False, label="Started from", widget=forms.DateInput(attrs={"type": "date"})
    )
    started_to = forms.DateField(
        required=False, label="Started to", widget=forms.DateInput(attrs={"type": "date"})
    )
    q = search_field(placeholder="Business key, words or instance id")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Sort")

    def __init__(self, *args: Any, workflow_names: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        names = workflow_names or []
        self.fields["workflow"].choices = [("", "Any workflow"), *((n, n) for n in names)]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The cleaned, non-empty filters (an invalid field is ignored, not fatal)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: v for k, v in data.items() if v not in (None, "") and k in self.fields}


class CancelForm(forms.Form):
    reason = forms.CharField(
        required=True,
        max_length=INSTANCE_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required. Recorded in the timeline; sent to the engine if one is configured.",
    )


class PauseForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=INSTANCE_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the timeline (and sent to the engine, if one is configured).",
    )


class ResumeForm(forms.Form):
    pass


class BulkCancelForm(forms.Form):
    instance = forms.MultipleChoiceField(required=True, label="Instances")
    reason = forms.CharField(
        required=True,
        max_length=INSTANCE_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Any submitted id is a choice here; the service reports unknown ones per row.
        values = self.data.getlist("instance") if hasattr(self.data, "getlist") else []
        self.fields["instance"].choices = [(v, v) for v in values]  # type: ignore[attr-defined]


class ReportFilterForm(forms.Form):
    # A value that no workflow can have (NUL, longer than the column) is ignored.
    workflow = forms.CharField(required=False, max_length=200, strip=False)

    def filters(self) -> dict[str, Any]:
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v}


class HistoryFilterForm(forms.Form):
    q = search_field(placeholder="Business key or words")
    # Exact names as engines send them (up to their columns' length), spaces and all.
    person = forms.CharField(required=False, max_length=200, strip=False)
    workflow = forms.CharField(required=False, max_length=200, strip=False)
    step = forms.CharField(required=False, max_length=200, strip=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: v for k, v in data.items() if v not in (None, "")}


class AuditFilterForm(HistoryFilterForm):
    type = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *((t, t) for t in EVENT_TYPES)]
    )
    instance = forms.UUIDField(required=False, label="Instance id")
