"""Console details: History's filters are Instances' dropdowns, the audit filter offers what
people do, chart labels are wrapped rather than cut, filters apply on submit only, bulk
actions wait for a selection."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.support import events as b
from tests.support.inbox_world import People, make_people, make_task, reload
from workflows import actions
from workflows.events import EVENT_TYPES
from workflows.models import Event
from workflows_ui import charts
from workflows_ui.forms import AUDIT_ACTIONS, AuditFilterForm, HistoryFilterForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> People:
    return make_people()


def as_(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no <select name={name}>"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_the_person_filter_lists_people_by_full_name_in_order(people: People) -> None:
    for user in (people.carol, people.alice, people.bob):
        task = make_task(assignee=user.username)
        actions.complete_task(task=reload(task), user=user, form_data={})
    html = as_(people.erin).get(reverse("workflows_ui:history")).content.decode()
    select = re.search(r'<select name="person"[^>]*>(.*?)</select>', html, re.S)
    assert select
    assert re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)) == [
        ("", "Anyone"),
        ("alice", "Alice Martin"),
        ("bob", "Bob Chen"),
        ("carol", "Carol Diaz"),
    ]


def test_history_filters_are_dropdowns_of_the_names_there_are(people: People) -> None:
    task = make_task(assignee="alice", workflow="expense approval", step_name="approve")
    make_task(assignee="bob", workflow="onboarding", step_name="sign")
    actions.complete_task(task=reload(task), user=people.alice, form_data={})
    client = as_(people.erin)
    html = client.get(reverse("workflows_ui:history")).content.decode()
    assert options(html, "workflow") == ["", "expense approval", "onboarding"]
    assert options(html, "step") == ["", "approve", "sign"]
    assert options(html, "person") == ["", "alice"]
    assert '<option value="alice">Alice Martin</option>' in html  # by name, as people read it
    # The same control as Instances' workflow filter.
    instances = client.get(reverse("workflows_ui:instances")).content.decode()
    assert options(instances, "workflow") == options(html, "workflow")
    # A name from a link elsewhere is kept, selected, and filters.
    other = client.get(reverse("workflows_ui:history"), {"person": "someone else"})
    assert '<option value="someone else" selected>' in other.content.decode()
    assert "No completed or reassigned tasks match." in other.content.decode()
    html = client.get(reverse("workflows_ui:history"), {"person": "alice"}).content.decode()
    assert "Approve expense report" in html


def test_history_filter_form_keeps_names_exact_and_ignores_what_no_name_holds() -> None:
    form = HistoryFilterForm({"workflow": " spaced ", "step": "x\x00y"}, names={})
    assert form.filters() == {"workflow": " spaced "}
    assert HistoryFilterForm({"person": "p" * 201}).filters() == {}


def test_the_audit_filter_offers_what_people_do(people: People) -> None:
    html = as_(people.erin).get(reverse("workflows_ui:audit")).content.decode()
    offered = options(html, "type")[1:]
    assert offered == [t for t, _ in AUDIT_ACTIONS]
    assert set(offered) < set(EVENT_TYPES)
    assert "StepStarted" not in offered and "HumanTaskCreated" not in offered
    # Every action a person takes is one of them.
    done = make_task(assignee="alice")
    actions.complete_task(task=done, user=people.alice, form_data={})
    queued = make_task(assignee="group:finance")
    queued = actions.claim_task(task=queued, user=people.alice)
    actions.release_task(task=queued, user=people.alice)
    moved = make_task(assignee="alice")
    actions.reassign_task(task=moved, user=people.alice, to_assignee="bob", reason="away")
    iid, _ = b.waiting_instance(assignee="bob")
    actions.pause_instance(instance_id=iid, user=people.admin)
    actions.resume_instance(instance_id=iid, user=people.admin)
    actions.cancel_instance(instance_id=iid, user=people.admin, reason="done with it")
    by_people = set(
        Event.objects.filter(source__startswith="dashboard").values_list("type", flat=True)
    )
    assert by_people == set(offered)
    form = AuditFilterForm({"type": "StepStarted"})
    assert "type" not in form.filters()


def test_the_events_export_still_filters_by_any_event_type(people: People) -> None:
    b.waiting_instance(assignee="alice")
    response = as_(people.erin).get(
        reverse("workflows_ui:export_events"), {"scope": "all", "type": "StepStarted"}
    )
    body = response.getvalue().decode()
    assert "StepStarted" in body and "HumanTaskCreated" not in body


def test_chart_labels_wrap_instead_of_being_cut() -> None:
    assert charts.wrap_label("short") == ("short",)
    long = "expense approval · approve by the manager of the team"
    lines = charts.wrap_label(long)
    assert len(lines) == 2 and " ".join(lines) == long
    assert all(len(line) <= charts.LABEL_CHARS for line in lines)
    too_long = charts.wrap_label("x" * 200)
    assert len(too_long) == 2 and too_long[-1].endswith("…")
    chart = charts.bar_chart([(long, [("median", 5, "median")]), ("b", [("median", 1, "median")])])
    assert chart.row_h == 40 and chart.rows[0].label_lines == lines
    single = charts.bar_chart([("a", [("median", 1, "median")])])
    assert single.row_h == 26


def test_the_report_shows_long_labels_whole(people: People) -> None:
    name = "a workflow with a rather long name indeed"
    task = make_task(assignee="alice", workflow=name, step_name="the step with a long name too")
    actions.complete_task(task=task, user=people.alice, form_data={})
    html = as_(people.erin).get(reverse("workflows_ui:reports")).content.decode()
    assert "<tspan" in html
    # Whole, as people read the names (workflows.labels).
    whole = "A workflow with a rather long name indeed · The step with a long name too"
    assert f"<title>{whole}</title>" in html
    assert "…" not in html.split('id="chart-cycle-t"')[1].split("</svg>")[0]


def test_filters_apply_on_submit_only_and_bulk_cancel_waits_for_a_selection(
    people: People,
) -> None:
    """One request per Apply: a "change" trigger as well fired one more when a typed field
    lost focus to the button (the browser test counts them)."""
    make_task(assignee="alice")
    client = as_(people.admin)
    for url in ("instances", "history", "audit"):
        html = client.get(reverse(f"workflows_ui:{url}")).content.decode()
        form = re.search(r'<form id="filters"[^>]*>', html, re.S)
        assert form and 'hx-trigger="submit"' in form.group(0), url
    html = client.get(reverse("workflows_ui:instances")).content.decode()
    assert '<fieldset class="card bulk" data-needs-selection="instance">' in html


def test_a_step_with_no_completed_task_has_no_cycle_bar(people: People) -> None:
    """Its table row says "—"; a bar of "0 s" would say it took no time at all."""
    done = make_task(assignee="alice", step_name="finance_approval")
    actions.complete_task(task=done, user=people.alice, form_data={})
    make_task(assignee="alice", step_name="legal_review")  # still open
    html = as_(people.erin).get(reverse("workflows_ui:reports")).content.decode()
    chart = html.split('id="chart-cycle-t"')[1].split("</svg>")[0]
    assert "Finance approval" in chart and "Legal review" not in chart
    table = html.split("<caption>Task cycle time")[1].split("</table>")[0]
    assert "Legal review" in table  # still listed, with "—"


def test_no_cycle_chart_when_no_task_was_completed(people: People) -> None:
    make_task(assignee="alice", step_name="legal_review")
    html = as_(people.erin).get(reverse("workflows_ui:reports")).content.decode()
    assert 'id="chart-cycle' not in html and "Legal review" in html


def test_an_empty_audit_trail_says_why(people: People) -> None:
    """Nothing done yet is not the same as filters that match nothing."""
    erin = as_(people.erin)
    url = reverse("workflows_ui:audit")
    assert "No one has acted through the dashboard yet." in erin.get(url).content.decode()
    filtered = erin.get(url, {"q": "EXP-2026-0001"}).content.decode()
    assert "No actions match these filters." in filtered
    person = erin.get(reverse("workflows_ui:person_activity", args=["bob"])).content.decode()
    # Tasks may be completed through the engine; the audit counts the dashboard's actions.
    assert "No actions through the dashboard yet." in person
    assert "<dt>Actions through the dashboard</dt>" in person


def test_report_tables_label_their_cells_for_the_phone_layout(people: People) -> None:
    """On a phone a table's rows become cards, each cell named by its data-label: a
    report's numbers must not stand there unnamed."""
    done = make_task(assignee="alice", step_name="finance_approval")
    actions.complete_task(task=done, user=people.alice, form_data={})
    html = as_(people.erin).get(reverse("workflows_ui:reports")).content.decode()
    tbodies = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    assert len(tbodies) == 3
    for body in tbodies:
        assert re.findall(r"<td(?![^>]*data-label)[^>]*>", body) == []
    assert '<td data-label="Waiting">' in html and '<td data-label="Median cycle">' in html


def _unlabelled_cells(html: str) -> list[str]:
    """<td>s of the page's tables that would stand unnamed on a phone (checkbox and button
    cells aside)."""
    cells = re.findall(r"<td(?![^>]*data-label)[^>]*>(.*?)</td>", html, re.S)
    return [c for c in cells if "<input" not in c and "<button" not in c and c.strip()]


def test_console_tables_name_their_cells_for_the_phone_layout(people: People) -> None:
    task = make_task(assignee="alice", step_name="finance_approval")
    actions.complete_task(task=task, user=people.alice, form_data={})
    erin = as_(people.erin)
    for url in (
        reverse("workflows_ui:instance_detail", args=[task.instance_id]),
        reverse("workflows_ui:person_activity", args=["alice"]),
    ):
        assert _unlabelled_cells(erin.get(url).content.decode()) == [], url
