"""The completion form built from a task's JSON Schema: fields, labels, validation, storage."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django import forms
from django.test import Client

from inbox.forms import CompletionForm
from tests.support.inbox_world import People, counts, make_people, make_task, reload, text
from workflows.models import Event, HumanTask

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["decision", "amount", "reviewer_email"],
    "properties": {
        "decision": {
            "type": "string",
            "title": "Decision",
            "description": "What happens to this expense",
            "enum": ["approve", "reject", "escalate"],
        },
        "amount": {
            "type": "number",
            "title": "Approved amount (EUR)",
            "minimum": 0,
            "maximum": 5000,
        },
        "nights": {"type": "integer", "minimum": 1, "maximum": 14, "default": 2},
        "reviewer_email": {"type": "string", "format": "email", "title": "Reviewer e-mail"},
        "pay_on": {"type": "string", "format": "date", "title": "Pay on"},
        "notes": {"type": "string", "format": "textarea", "title": "Notes"},
        "summary": {"type": "string", "maxLength": 2000},
        "code": {"type": "string", "pattern": "^CC-[0-9]+$", "title": "Cost centre"},
        "urgent": {"type": "boolean", "title": "Urgent", "default": True},
        "tier": {"type": "integer", "enum": [1, 2, 3], "default": 2, "title": "Tier"},
    },
}

VALID = {
    "f_decision": "approve",
    "f_amount": "120.50",
    "f_nights": "3",
    "f_reviewer_email": "rev@example.com",
    "f_pay_on": "2026-12-01",
    "f_notes": "Looks fine",
    "f_summary": "",
    "f_code": "CC-17",
    "f_urgent": "on",
    "f_tier": "3",
    "comment": "Approved after a call",
}


# --- building the form ------------------------------------------------------------------------


def test_each_schema_type_gets_its_field_and_widget() -> None:
    form = CompletionForm(schema=SCHEMA)
    f = form.fields
    assert list(f) == [*(f"f_{n}" for n in SCHEMA["properties"]), "comment"]

    assert isinstance(f["f_decision"].widget, forms.Select)
    assert f["f_decision"].choices == [  # type: ignore[attr-defined]
        ("", "Choose…"),
        ("approve", "Approve"),
        ("reject", "Reject"),
        ("escalate", "Escalate"),
    ]
    assert isinstance(f["f_amount"], forms.FloatField)
    assert isinstance(f["f_nights"], forms.IntegerField)
    assert isinstance(f["f_reviewer_email"], forms.EmailField)
    assert isinstance(f["f_pay_on"], forms.DateField)
    assert f["f_pay_on"].widget.input_type == "date"  # type: ignore[attr-defined]
    assert isinstance(f["f_notes"].widget, forms.Textarea)  # format: textarea
    assert isinstance(f["f_summary"].widget, forms.Textarea)  # a long string
    assert isinstance(f["f_code"].widget, forms.TextInput)
    assert isinstance(f["f_urgent"], forms.BooleanField)
    assert isinstance(f["f_comment" if "f_comment" in f else "comment"].widget, forms.Textarea)


def test_titles_descriptions_required_bounds_and_defaults() -> None:
    form = CompletionForm(schema=SCHEMA)
    f = form.fields
    assert f["f_decision"].label == "Decision"
    assert f["f_decision"].help_text == "What happens to this expense"
    assert f["f_nights"].label == "Nights"  # no title: the property name, readable
    assert [n for n, fld in f.items() if fld.required] == [
        "f_decision",
        "f_amount",
        "f_reviewer_email",
    ]
    assert (form["f_nights"].initial, form["f_urgent"].initial, form["f_tier"].initial) == (
        2,
        True,
        2,
    )
    nights = str(form["f_nights"])
    assert 'min="1"' in nights and 'max="14"' in nights and 'value="2"' in nights
    assert 'type="number"' in str(form["f_amount"])
    assert 'type="email"' in str(form["f_reviewer_email"])
    assert "checked" in str(form["f_urgent"])
    assert '<option value="3">3</option>' in str(form["f_tier"])
    assert 'value="2" selected' in str(form["f_tier"])


def test_a_task_without_schema_has_only_a_comment() -> None:
    form = CompletionForm(schema=None)
    assert list(form.fields) == ["comment"]
    bound = CompletionForm({"comment": "done"}, schema=None)
    assert bound.is_valid() and bound.form_data() == {}


# --- validating ---------------------------------------------------------------------------


def test_valid_data_keeps_its_json_types() -> None:
    form = CompletionForm(VALID, schema=SCHEMA)
    assert form.is_valid(), form.errors
    data = form.form_data()
    assert data == {
        "decision": "approve",
        "amount": 120.5,
        "nights": 3,
        "reviewer_email": "rev@example.com",
        "pay_on": "2026-12-01",
        "notes": "Looks fine",
        "code": "CC-17",
        "urgent": True,
        "tier": 3,
    }
    assert type(data["nights"]) is int and type(data["tier"]) is int
    assert type(data["amount"]) is float and data["urgent"] is True


def test_an_unticked_box_is_false_not_missing() -> None:
    form = CompletionForm({**VALID, "f_urgent": ""}, schema=SCHEMA)
    assert form.is_valid(), form.errors
    assert form.form_data()["urgent"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("f_amount", "lots", "Enter a number."),
        ("f_nights", "2.5", "Enter a whole number."),
        ("f_nights", "x", "Enter a whole number."),
        ("f_nights", "0", "Ensure this value is greater than or equal to 1."),
        ("f_nights", "15", "Ensure this value is less than or equal to 14."),
        ("f_amount", "-1", "Ensure this value is greater than or equal to 0."),
        ("f_amount", "5000.01", "Ensure this value is less than or equal to 5000."),
        ("f_decision", "maybe", "Select a valid choice."),
        ("f_decision", "", "This field is required."),
        ("f_amount", "", "This field is required."),
        ("f_reviewer_email", "not-an-email", "Enter a valid email address."),
        ("f_reviewer_email", "", "This field is required."),
        ("f_pay_on", "31/02/2026", "Enter a valid date."),
        ("f_pay_on", "2026-02-30", "Enter a valid date."),
        ("f_tier", "7", "Select a valid choice."),
        ("f_code", "XX-1", "does not match"),  # only jsonschema knows the pattern
    ],
)
def test_wrong_values_get_an_error_on_their_field(field: str, value: str, message: str) -> None:
    form = CompletionForm({**VALID, field: value}, schema=SCHEMA)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert message in " ".join(form.errors[field])


def test_missing_required_fields_each_get_their_error() -> None:
    data = {k: v for k, v in VALID.items() if k not in ("f_decision", "f_amount")}
    form = CompletionForm(data, schema=SCHEMA)
    assert not form.is_valid()
    assert form.errors["f_decision"] == ["This field is required."]
    assert form.errors["f_amount"] == ["This field is required."]


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        ({"type": "number", "exclusiveMaximum": 10}, "10", "greater than or equal to the maximum"),
        ({"type": "integer", "multipleOf": 5}, "12", "is not a multiple of 5"),
        ({"type": "string", "minLength": 3}, "ab", "Ensure this value has at least 3"),
        ({"type": "string", "maxLength": 4}, "abcde", "Ensure this value has at most 4"),
    ],
)
def test_other_schema_rules_are_checked_with_jsonschema(
    spec: dict[str, Any], value: str, message: str
) -> None:
    schema = {"type": "object", "properties": {"x": spec}}
    form = CompletionForm({"f_x": value}, schema=schema)
    assert not form.is_valid()
    assert message in " ".join(form.errors["f_x"])


def test_a_rule_across_fields_is_a_form_error() -> None:
    schema = {
        "type": "object",
        "properties": {"refund": {"type": "boolean"}, "iban": {"type": "string"}},
        "dependentRequired": {"refund": ["iban"]},
    }
    form = CompletionForm({"f_refund": "on"}, schema=schema)
    assert not form.is_valid()
    assert "'iban' is a dependency of 'refund'" in " ".join(form.non_field_errors())


# --- through the page ---------------------------------------------------------------------


@pytest.fixture
def people(db: Any) -> People:
    return make_people()


@pytest.fixture
def task(people: People) -> HumanTask:
    return make_task(title="Approve the offsite", form_schema=SCHEMA)


@pytest.fixture
def alice(client: Client, people: People) -> Client:
    client.force_login(people.alice)
    return client


def field_block(html: str, name: str) -> str:
    """The <div class="field"> holding one input: its label, input, help and errors."""
    match = re.search(
        rf'<div class="field[^"]*">(?:(?!<div class="field).)*?id="id_{name}".*?</div>', html, re.S
    )
    assert match, f"no field {name}"
    return match.group(0)


def test_the_page_labels_every_field(alice: Client, task: HumanTask) -> None:
    html = text(alice.get(f"/tasks/{task.task_id}/"))
    for name in [f"f_{n}" for n in SCHEMA["properties"]] + ["comment"]:
        assert f'<label for="id_{name}">' in html, name
    decision = field_block(html, "f_decision")
    assert "Decision" in decision and '<span class="visually-hidden">(required)</span>' in decision
    assert (
        '<p class="help" id="id_f_decision_helptext">What happens to this expense</p>' in decision
    )
    assert 'aria-describedby="id_f_decision_helptext"' in decision
    assert "(required)" not in field_block(html, "f_notes")


def test_errors_appear_beside_their_fields_and_nothing_is_stored(
    alice: Client, task: HumanTask
) -> None:
    before = counts()
    response = alice.post(
        f"/tasks/{task.task_id}/complete/", {**VALID, "f_amount": "9000", "f_code": "nope"}
    )
    assert response.status_code == 422
    html = text(response)
    amount = field_block(html, "f_amount")
    assert "Ensure this value is less than or equal to 5000." in amount
    assert 'aria-invalid="true"' in amount
    assert 'value="9000"' in amount  # what the person typed is kept
    assert "does not match" in field_block(html, "f_code")
    assert "errorlist" not in field_block(html, "f_decision")
    assert "Please correct the fields marked below." in html
    assert 'value="rev@example.com"' in html
    assert counts() == before and reload(task).is_open


def test_htmx_errors_swap_only_the_form(alice: Client, task: HumanTask) -> None:
    response = alice.post(
        f"/tasks/{task.task_id}/complete/", {**VALID, "f_decision": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = text(response).strip()
    assert html.startswith('<section class="card" id="complete-form"')
    assert html.endswith("</section>")
    assert "This field is required." in field_block(html, "f_decision")
    assert "<html" not in html and "Timeline" not in html


def test_completion_stores_typed_values_and_the_signed_in_person(
    alice: Client, task: HumanTask
) -> None:
    response = alice.post(
        f"/tasks/{task.task_id}/complete/",
        # Anything naming someone else is ignored: completed_by comes from the session.
        {**VALID, "completed_by": "mallory", "f_completed_by": "mallory"},
    )
    assert response.status_code == 302
    done = reload(task)
    assert done.status == HumanTask.Status.COMPLETED
    assert done.completed_by == "alice"
    assert done.comment == "Approved after a call"
    assert done.form_data == {
        "decision": "approve",
        "amount": 120.5,
        "nights": 3,
        "reviewer_email": "rev@example.com",
        "pay_on": "2026-12-01",
        "notes": "Looks fine",
        "code": "CC-17",
        "urgent": True,
        "tier": 3,
    }
    event = Event.objects.get(type="HumanTaskCompleted")
    assert event.payload["completed_by"] == "alice"
    assert event.payload["form_data"] == done.form_data


def test_a_schema_property_called_completed_by_does_not_change_who_completed(
    alice: Client, people: People
) -> None:
    schema = {"type": "object", "properties": {"completed_by": {"type": "string"}}}
    task = make_task(form_schema=schema)
    alice.post(f"/tasks/{task.task_id}/complete/", {"f_completed_by": "mallory"})
    done = reload(task)
    assert done.completed_by == "alice" and done.completed_by_user == people.alice
    assert done.form_data == {"completed_by": "mallory"}


def test_a_task_without_schema_completes_with_a_comment(alice: Client) -> None:
    task = make_task(title="Just confirm")
    html = text(alice.get(f"/tasks/{task.task_id}/"))
    assert 'name="f_' not in html and '<label for="id_comment">Comment</label>' in html
    alice.post(f"/tasks/{task.task_id}/complete/", {"comment": "Confirmed"})
    done = reload(task)
    assert (done.status, done.form_data, done.comment) == ("completed", None, "Confirmed")


def test_the_api_validates_form_data_against_the_schema(alice: Client, task: HumanTask) -> None:
    before = counts()
    response = alice.post(
        f"/api/tasks/{task.task_id}/complete",
        {"form_data": {"decision": "maybe", "amount": "12", "reviewer_email": "x@example.com"}},
        content_type="application/json",
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"decision", "amount"}
    assert counts() == before


# --- choice labels from the schema ------------------------------------------------------------

CHOICES: dict[str, Any] = {
    "type": "object",
    "required": ["verdict", "route", "risk"],
    "properties": {
        "verdict": {
            "title": "Verdict",
            "oneOf": [
                {"const": "approve", "title": "Approve the expense"},
                {"const": "request_changes", "title": "Ask for changes"},
            ],
        },
        "route": {
            "type": "string",
            "enum": ["fast_track", "normal"],
            "x-enumNames": ["Fast track (same day)", "Normal"],
            "x-widget": "radio",
        },
        "risk": {"type": "string", "enum": ["low", "very_high"], "default": "low"},
        "tier": {"type": "integer", "oneOf": [{"const": 1, "title": "Bronze"}, {"const": 2}]},
    },
}


def test_choices_are_labelled_from_the_schema_and_keep_their_values() -> None:
    f = CompletionForm(schema=CHOICES).fields
    assert f["f_verdict"].choices == [  # type: ignore[attr-defined]
        ("", "Choose…"),
        ("approve", "Approve the expense"),
        ("request_changes", "Ask for changes"),
    ]
    assert isinstance(f["f_route"].widget, forms.RadioSelect)
    assert f["f_route"].choices == [  # type: ignore[attr-defined]
        ("fast_track", "Fast track (same day)"),
        ("normal", "Normal"),
    ]
    # No title: the value humanised; a default is preselected, so no empty choice.
    assert f["f_risk"].choices == [("low", "Low"), ("very_high", "Very high")]  # type: ignore[attr-defined]
    assert f["f_tier"].choices == [("", "—"), ("1", "Bronze"), ("2", "2")]  # type: ignore[attr-defined]
    form = CompletionForm(
        {
            "f_verdict": "request_changes",
            "f_route": "fast_track",
            "f_risk": "very_high",
            "f_tier": "1",
        },
        schema=CHOICES,
    )
    assert form.is_valid(), form.errors
    assert form.form_data() == {
        "verdict": "request_changes",
        "route": "fast_track",
        "risk": "very_high",
        "tier": 1,
    }


def test_a_choice_without_a_default_starts_unselected_and_must_be_made() -> None:
    html = str(CompletionForm(schema=CHOICES)["f_verdict"]) + str(
        CompletionForm(schema=CHOICES)["f_route"]
    )
    assert "checked" not in html  # no radio preselected
    assert '<option value="" selected>Choose…</option>' in html
    assert 'value="low" selected' in str(CompletionForm(schema=CHOICES)["f_risk"])
    form = CompletionForm({"f_risk": "low"}, schema=CHOICES)
    assert not form.is_valid()
    assert set(form.errors) >= {"f_verdict", "f_route"}


def test_the_page_and_the_outcome_show_the_choice_labels(alice: Client, people: People) -> None:
    task = make_task(title="Decide", form_schema=CHOICES)
    html = text(alice.get(f"/tasks/{task.task_id}/"))
    assert ">Ask for changes</option>" in html and " Fast track (same day)</label>" in html
    assert '<fieldset class="choices"><legend>Route' in html  # radios are a named group
    response = alice.post(
        f"/tasks/{task.task_id}/complete/",
        {"f_verdict": "request_changes", "f_route": "fast_track", "f_risk": "very_high"},
    )
    assert response.status_code == 302
    stored = reload(task).form_data
    assert stored is not None and stored["verdict"] == "request_changes"  # the value is stored
    done = text(alice.get(f"/tasks/{task.task_id}/"))
    outcome = done.split('id="task-outcome"')[1].split("</section>")[0]
    assert "<dt>Verdict</dt><dd>Ask for changes</dd>" in outcome
    assert "<dt>Route</dt><dd>Fast track (same day)</dd>" in outcome
    assert "<dt>Risk</dt><dd>Very high</dd>" in outcome
    assert "request_changes" not in outcome and "very_high" not in outcome
