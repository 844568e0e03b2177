"""Filter and action forms of the console. Filters are GET forms, so a URL is a view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms

from pages.forms import search_field
from workflows.actions import ASSIGNEE_MAX_LENGTH, INSTANCE_REASON_MAX_LENGTH, REASON_MAX_LENGTH
from workflows.events import EVENT_TYPES
from workflows.labels import People, step_label, workflow_label
from workflows.models import WorkflowInstance

SORT_CHOICES = [
    ("-started", "Newest started first"),
    ("started", "Oldest started first"),
    ("-activity", "Most recent activity first"),
    ("-duration", "Longest duration first"),
    ("duration", "Shortest duration first"),
]


# How a dropdown's names read (the value stays the raw name, as URLs and exports keep it).
CHOICE_LABELS: dict[str, Callable[[str], str]] = {"workflow": workflow_label, "step": step_label}


def _by_label(option: tuple[str, str]) -> tuple[str, str]:
    return (option[1].casefold(), option[0])


class NameChoiceField(forms.ChoiceField):
    """A dropdown of the names there are (workflows, steps, people) that still takes any
    exact name as long as its column, spaces and all: a link from elsewhere (a person's
    page, an old bookmark) keeps filtering by it, shown as the selected option."""

    def __init__(self, *, max_length: int = 200, **kwargs: Any):
        super().__init__(required=False, **kwargs)
        self.max_length = max_length

    def valid_value(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) <= self.max_length and "\x00" not in value


class FilterForm(forms.Form):
    """The console's GET filter forms. The names a dropdown offers come in as ``names``
    (field -> names); a value not among them, if valid, is offered too."""

    any_labels: dict[str, str] = {}

    def __init__(self, *args: Any, names: dict[str, list[str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name, any_label in self.any_labels.items():
            field = self.fields[name]
            known = list((names or {}).get(name, []))
            current = self.data.get(name) if self.is_bound else None
            if current and current not in known and field.valid_value(current):  # type: ignore[attr-defined]
                known.append(current)
            if name == "person":  # full names, resolved in two queries; by name
                people = People.of(known)
                options = sorted(((n, people.label(n) or n) for n in known), key=_by_label)
            else:
                label = CHOICE_LABELS.get(name, str)
                options = [(n, label(n)) for n in known]
            field.choices = [("", any_label), *options]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The cleaned, non-empty filters (an invalid field is ignored, not fatal)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {k: v for k, v in data.items() if v not in (None, "") and k in self.fields}


class InstanceFilterForm(FilterForm):
    any_labels = {"workflow": "Any workflow"}

    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *WorkflowInstance.Status.choices]
    )
    workflow = NameChoiceField(label="Workflow")
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
        kwargs.setdefault("names", {"workflow": workflow_names or []})
        super().__init__(*args, **kwargs)


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


class HistoryFilterForm(FilterForm):
    """History's filters: the same dropdowns as Instances' (``FilterForm``), fed with the
    names there are (``selectors.history_names``)."""

    any_labels = {"person": "Anyone", "workflow": "Any workflow", "step": "Any step"}

    q = search_field(placeholder="Business key or words")
    # Exact names as engines send them (up to their columns' length), spaces and all.
    person = NameChoiceField(label="Person")
    workflow = NameChoiceField(label="Workflow")
    step = NameChoiceField(label="Step")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )


# What people do through the dashboard (``workflows.actions``), and only that: the audit
# lists people's actions; engines' events (a step started, a task created) are not among them.
AUDIT_ACTIONS = [
    ("HumanTaskCompleted", "Completed a task"),
    ("HumanTaskReassigned", "Reassigned, claimed or released a task"),
    ("WorkflowCanceled", "Canceled a workflow"),
    ("WorkflowPaused", "Paused a workflow"),
    ("WorkflowResumed", "Resumed a workflow"),
]


class AuditFilterForm(HistoryFilterForm):
    type = forms.ChoiceField(
        required=False, label="Action", choices=[("", "Any action"), *AUDIT_ACTIONS]
    )
    instance = forms.UUIDField(required=False, label="Instance id")


class EventExportFilterForm(AuditFilterForm):
    """The events export (``scope=all`` exports engines' events too): any event type."""

    type = forms.ChoiceField(
        required=False, label="Event", choices=[("", "Any event"), *((t, t) for t in EVENT_TYPES)]
    )


class UnroutedAssignForm(forms.Form):
    """Give an unrouted task (or the selected ones) a person or team. The reason is
    optional here: without one, the new assignee reads why it came from Unrouted."""

    to_assignee = forms.CharField(
        label="Assign to",
        max_length=ASSIGNEE_MAX_LENGTH,
        help_text="A person's username or a team (group:NAME); suggested as you type.",
    )
    reason = forms.CharField(required=False, max_length=REASON_MAX_LENGTH, label="Reason")


class UnroutedBulkAssignForm(UnroutedAssignForm):
    task = forms.MultipleChoiceField(required=True, label="Tasks")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        values = self.data.getlist("task") if hasattr(self.data, "getlist") else []
        self.fields["task"].choices = [(v, v) for v in values]  # type: ignore[attr-defined]
