"""Forms: the completion form built from a task's JSON Schema, reassignment, filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from pages.forms import search_field
from workflows.actions import ASSIGNEE_MAX_LENGTH, COMMENT_MAX_LENGTH, REASON_MAX_LENGTH
from workflows.labels import humanize, schema_choices
from workflows.preferences import time_zone_names
from workflows.schemas import validation_errors

TEXTAREA_MIN_LENGTH = 200


def _label(name: str, spec: dict[str, Any]) -> str:
    return str(spec.get("title") or humanize(name))


def _is_textarea(spec: dict[str, Any]) -> bool:
    return (
        spec.get("format") == "textarea"
        or spec.get("x-widget") == "textarea"
        or int(spec.get("maxLength") or 0) > TEXTAREA_MIN_LENGTH
        or (spec.get("maxLength") is None and spec.get("contentMediaType") == "text/plain")
    )


def _schema_type(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "string")
    if isinstance(kind, list):  # ["string", "null"]: the first non-null type
        kind = next((k for k in kind if k != "null"), "string")
    if schema_choices(spec) is not None and "type" not in spec:
        kind = "string"
    return str(kind)


def field_for(name: str, spec: dict[str, Any], required: bool) -> forms.Field:
    """One Django form field for one property of the schema."""
    common: dict[str, Any] = {
        "label": _label(name, spec),
        "help_text": spec.get("description", ""),
        "required": required,
    }
    if "default" in spec:
        common["initial"] = spec["default"]
    kind = _schema_type(spec)
    options = schema_choices(spec)
    if options is not None:
        # Labels from the schema (oneOf const/title, enum with x-enumNames), else humanised.
        choices: list[tuple[Any, str]] = [(str(v), label) for v, label in options]
        values = [v for v, _ in options]
        if spec.get("x-widget") == "radio":
            # Radios start with none checked unless the schema gives a default.
            return TypedEnumField(
                choices=choices, values=values, widget=forms.RadioSelect, **common
            )
        if "default" not in spec:
            # No preselected answer: a required choice must be made on purpose.
            choices = [("", "Choose…" if required else "—"), *choices]
        return TypedEnumField(choices=choices, values=values, **common)
    if kind == "boolean":
        # An unticked box is a real "false"; it can never be missing.
        return forms.BooleanField(**{**common, "required": False})
    if kind == "integer":
        return forms.IntegerField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    if kind == "number":
        return forms.FloatField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    fmt = spec.get("format")
    if fmt == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if fmt == "email":
        return forms.EmailField(max_length=spec.get("maxLength"), **common)
    widget = forms.Textarea(attrs={"rows": 5}) if _is_textarea(spec) else forms.TextInput()
    return forms.CharField(
        widget=widget,
        min_length=spec.get("minLength"),
        max_length=spec.get("maxLength"),
        strip=True,
        **common,
    )


class TypedEnumField(forms.ChoiceField):
    """A choice among an enum's values, returned with the value's own JSON type."""

    def __init__(self, *, values: list[Any], **kwargs: Any):
        self.values = {str(v): v for v in values}
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Any:
        cleaned = super().clean(value)
        return self.values.get(cleaned, None) if cleaned != "" else None


class CompletionForm(forms.Form):
    """The completion form for one task: fields from its form_schema, plus a comment.

    Django's fields coerce what the browser sends; the jsonschema package then validates
    the typed values against the task's schema, and its errors land beside their fields.
    """

    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment",
        max_length=COMMENT_MAX_LENGTH,
    )

    def __init__(self, *args: Any, schema: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.schema = schema or {}
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        self.schema_fields: list[str] = []
        fields = dict(self.fields)
        self.fields.clear()
        for name, spec in properties.items():
            if not isinstance(spec, dict) or name == "comment":
                continue
            self.fields[f"f_{name}"] = field_for(name, spec, name in required)
            self.schema_fields.append(name)
        self.fields.update(fields)

    def schema_bound_fields(self) -> list[forms.BoundField]:
        return [self[f"f_{name}"] for name in self.schema_fields]

    def hold(self) -> None:
        """Render every field disabled (its workflow is paused or ended), keeping the values
        the person typed: the attribute only, not ``Field.disabled``, which would drop them."""
        for bound in self:
            bound.field.widget.attrs.update({"disabled": True, "aria-disabled": "true"})

    def form_data(self) -> dict[str, Any]:
        """The typed values to store, as the schema describes them."""
        data: dict[str, Any] = {}
        for name in self.schema_fields:
            value = self.cleaned_data.get(f"f_{name}")
            if value is None or value == "":
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            data[name] = value
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.schema:
            return cleaned
        # Check the fields Django accepted too, so every mistake shows in one round trip;
        # a field Django already refused keeps its own (clearer) message.
        had_errors = bool(self.errors)
        for name, message in validation_errors(self.schema, self.form_data()):
            key = f"f_{name}" if name in self.schema_fields else None
            if (key is None and had_errors) or (key is not None and key in self.errors):
                continue
            self.add_error(key, message)
        return cleaned


def focus_first_error(form: forms.Form) -> None:
    """Give the first field with an error, in the order the page shows them, the
    ``autofocus`` attribute: a browser without the page's script lands there after a failed
    submit (``static/js/app.js`` does the same after an htmx swap)."""
    for bound in form:
        if bound.errors:
            bound.field.widget.attrs["autofocus"] = True
            return


class ReassignForm(forms.Form):
    to_assignee = forms.CharField(
        label="Reassign to",
        max_length=ASSIGNEE_MAX_LENGTH,
        help_text="A person's username or a team's name.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Tell the new assignee why this is theirs now.",
    )


class AssigneeSearchForm(forms.Form):
    """What the reassign picker has typed; text no name can hold (NUL, too long) finds none."""

    to_assignee = forms.CharField(required=False, max_length=ASSIGNEE_MAX_LENGTH)

    def query(self) -> str:
        return self.cleaned_data["to_assignee"] if self.is_valid() else ""


class TaskFilterForm(forms.Form):
    """The filters of My tasks, Team queues and Done; every value is optional."""

    q = search_field(placeholder="Title, description or business key")
    workflow = forms.CharField(required=False, label="Workflow", max_length=200)
    due = forms.ChoiceField(
        required=False,
        label="Due",
        choices=[("", "Any time"), ("overdue", "Overdue"), ("soon", "Due within 24 h")],
    )
    sort = forms.ChoiceField(
        required=False,
        label="Sort by",
        choices=[
            ("due", "Due date"),
            ("-created", "Newest"),
            ("created", "Oldest"),
            ("priority", "Priority"),
        ],
    )
    group = forms.CharField(required=False, max_length=150)
    page = forms.IntegerField(required=False, min_value=1)

    def filters(self) -> dict[str, Any]:
        """Valid filters only: a bad value is ignored rather than breaking the page."""
        self.is_valid()  # fills cleaned_data with the fields that are valid
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


def _time_zone_choices() -> list[tuple[str, str]]:
    zones = [(name, name.replace("_", " ")) for name in time_zone_names()]
    return [("", "Automatic (your browser's)"), *zones]


class PreferencesForm(forms.Form):
    """The person's settings page: time zone and email notifications."""

    time_zone = forms.ChoiceField(
        choices=_time_zone_choices,
        required=False,
        label="Time zone",
        help_text="Dates and times are shown in this zone. Automatic: your browser's.",
    )
    notify_assigned = forms.BooleanField(
        required=False,
        label="Email me when a task is assigned to me or to one of my teams",
    )
    notify_digest = forms.BooleanField(
        required=False, label="Email me a daily digest of my overdue tasks"
    )
