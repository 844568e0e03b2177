"""The step chart (parallel steps, retries, a failure, human waits) and the CSV exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from demo.users import demo_password, ensure_demo_users
from tests.support import events as b
from workflows.models import WorkflowInstance
from workflows_ui import charts, exports, selectors

pytestmark = pytest.mark.django_db

NOW = b.at(0) + timedelta(days=26, hours=15)  # long after every event


@pytest.fixture
def complex_instance() -> uuid.UUID:
    iid, task = uuid.uuid4(), uuid.uuid4()
    b.ingest(
        [
            b.started(iid, 0),
            # two steps in parallel
            b.step_started(iid, 0, "fetch"),
            b.step_started(iid, 2, "score"),
            b.step_completed(iid, 8, "score"),
            b.step_completed(iid, 10, "fetch"),
            # a human step with a reassignment, finished after its due date
            b.step_started(iid, 1, "review", step_type="HUMAN"),
            b.task_created(
                iid, 1, "review", task, assignee="alice", title="Review it", due_at=b.at(5)
            ),
            b.task_reassigned(iid, 3, "review", task, to_assignee="bob", reassigned_by="alice"),
            b.task_completed(iid, 9, "review", task, "bob"),
            b.step_completed(iid, 9, "review"),
            # a retried step: attempt 1 fails, attempt 2 succeeds
            b.step_started(iid, 10, "validate"),
            b.step_failed(
                iid,
                12,
                "validate",
                error="Connection timeout",
                error_type="TimeoutError",
                retry_count=1,
            ),
            b.step_started(iid, 13, "validate"),
            b.step_completed(iid, 15, "validate"),
            # a failure that ends the workflow
            b.step_started(iid, 15, "charge"),
            b.step_failed(iid, 16, "charge", error="card declined", error_type="PaymentError"),
            b.failed(
                iid,
                16,
                error="card declined",
                failed_step="charge",
                error_type="PaymentError",
                stack_trace="Traceback (most recent call last):",
            ),
        ]
    )
    return iid


def chart_for(iid: uuid.UUID) -> charts.GanttChart:
    chart = charts.step_chart(
        instance=WorkflowInstance.objects.get(instance_id=iid),
        steps=selectors.instance_steps(instance_id=iid),
        tasks=selectors.instance_tasks(instance_id=iid),
        reassigned_at=selectors.reassignment_times(instance_id=iid),
        now=NOW,
    )
    assert chart is not None
    return chart


def test_step_chart_rows(complex_instance) -> None:
    chart = chart_for(complex_instance)
    rows = {r.label: r for r in chart.rows}
    assert list(rows) == [
        "Fetch",
        "Review",
        "task: Review it",
        "Score",
        "Validate",
        "Validate (attempt 2)",
        "Charge",
    ]
    # The axis spans the instance: 0 to 16 minutes over the plot width.
    assert (chart.end - chart.start).total_seconds() == 16 * 60
    per_minute = chart.plot_w / 16
    fetch, score = rows["Fetch"], rows["Score"]
    assert fetch.x == chart.label_w
    assert fetch.width == pytest.approx(10 * per_minute)
    # Parallel: score starts inside fetch's bar and ends before it.
    assert score.x == pytest.approx(chart.label_w + 2 * per_minute)
    assert fetch.x < score.x < score.x + score.width < fetch.x + fetch.width
    assert score.y != fetch.y
    # Retries: one row per attempt, the first failed.
    first, second = rows["Validate"], rows["Validate (attempt 2)"]
    assert (first.status, first.retry_count, first.error) == (
        "failed",
        1,
        "TimeoutError: Connection timeout",
    )
    assert (second.status, second.attempt) == ("completed", 2)
    assert second.x > first.x + first.width
    # The failure.
    assert rows["Charge"].status == "failed"
    assert rows["Charge"].error == "PaymentError: card declined"
    # The human wait, its reassignment and its due date.
    task = rows["task: Review it"]
    assert (task.kind, task.status, task.duration_seconds) == ("task", "completed", 8 * 60)
    assert [m.x for m in task.reassignments] == [pytest.approx(chart.label_w + 3 * per_minute)]
    assert task.due_x == pytest.approx(chart.label_w + 5 * per_minute)
    assert task.overdue is True
    assert task.assignee == "bob"


def test_running_bar_reaches_now_and_open_task_is_a_wait() -> None:
    iid, _ = b.waiting_instance(m=0)
    chart = chart_for(iid)
    task_row = next(r for r in chart.rows if r.kind == "task")
    assert task_row.running and task_row.status == "open"
    assert task_row.end == NOW
    assert task_row.x + task_row.width == pytest.approx(chart.plot_right)


def test_instance_page_draws_chart_table_error_and_timeline(complex_instance) -> None:
    ensure_demo_users()
    client = Client()
    client.login(request=HttpRequest(), username="erin", password=demo_password("erin"))
    url = reverse("workflows_ui:instance_detail", args=[complex_instance])
    html = client.get(url).content.decode()
    assert '<svg class="gantt" role="img"' in html
    assert html.count('class="bar status-failed') == 2
    assert 'class="reassign"' in html
    assert 'class="due overdue"' in html
    assert '<th scope="row">Validate (attempt 2)' in html
    assert "<summary>Stack trace</summary>" in html
    assert "Traceback (most recent call last):" in html
    # People by full name, username on hover; no raw names in the sentence.
    assert (
        '<span class="person" title="alice">Alice Martin</span> reassigned &#x27;Review it&#x27; '
        'to <span class="person" title="bob">Bob Chen</span>'
    ) in html
    assert (
        "Step &#x27;Validate&#x27; failed after 1 retry: TimeoutError: Connection timeout" in html
    )
    # The timeline filter returns the partial only, for HTMX.
    partial = client.get(url, {"kind": "task"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert "Alice Martin</span> reassigned" in partial
    assert "Step &#x27;Validate&#x27;" not in partial


# --- CSV ------------------------------------------------------------------------------------


def manager_client() -> Client:
    ensure_demo_users()
    client = Client()
    client.login(request=HttpRequest(), username="erin", password=demo_password("erin"))
    return client


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_instances_csv_follows_filters(complex_instance) -> None:
    other, _ = b.waiting_instance(workflow_name="hiring")
    response = manager_client().get(reverse("workflows_ui:export_instances"), {"status": "failed"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0][:4] == ["instance_id", "workflow", "version", "status"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["instance_id"] == str(complex_instance)
    assert row["status"] == "failed"
    assert row["error_type"] == "PaymentError"
    assert row["duration_seconds"] == "960.0"
    hiring = read_csv(
        manager_client().get(reverse("workflows_ui:export_instances"), {"workflow": "hiring"})
    )
    assert [r[0] for r in hiring[1:]] == [str(other)]


def test_tasks_and_events_csv(complex_instance) -> None:
    client = manager_client()
    tasks = read_csv(client.get(reverse("workflows_ui:export_tasks"), {"person": "bob"}))
    assert len(tasks) == 2
    task = dict(zip(tasks[0], tasks[1], strict=True))
    assert (task["title"], task["completed_by"], task["reassignments"]) == ("Review it", "bob", "1")
    events = read_csv(
        client.get(
            reverse("workflows_ui:export_events"),
            {"instance": str(complex_instance), "scope": "all"},
        )
    )
    assert len(events) == 1 + 17
    assert {r[2] for r in events[1:]} >= {"WorkflowStarted", "StepFailed", "HumanTaskReassigned"}
    # Without scope=all, only people's actions (none here).
    assert len(read_csv(client.get(reverse("workflows_ui:export_events")))) == 1


def test_csv_cells_cannot_become_formulas() -> None:
    iid = uuid.uuid4()
    b.ingest([b.started(iid, 0, workflow_name="=HYPERLINK(1)")])
    rows = read_csv(manager_client().get(reverse("workflows_ui:export_instances")))
    assert rows[1][1] == "'=HYPERLINK(1)"


def test_csv_is_streamed_from_an_iterator_not_materialised(complex_instance) -> None:
    for _ in range(3):
        b.waiting_instance()
    client = manager_client()
    real_iterator = QuerySet.iterator
    with mock.patch.object(QuerySet, "iterator", autospec=True, side_effect=real_iterator) as spy:
        response = client.get(reverse("workflows_ui:export_instances"))
        assert isinstance(response, StreamingHttpResponse)
        # While the body streams, no queryset may be loaded whole.
        with mock.patch.object(QuerySet, "_fetch_all", side_effect=AssertionError("materialised")):
            rows = read_csv(response)
    assert len(rows) == 1 + 4
    spy.assert_called_once()
    assert spy.call_args.kwargs["chunk_size"] == 2000


@pytest.mark.parametrize(
    ("ending", "status"),
    [("canceled", "canceled"), ("failed", "failed"), ("completed", "completed")],
)
def test_a_step_open_when_the_instance_ended_ends_with_it(ending: str, status: str) -> None:
    iid, _ = b.waiting_instance(m=0)
    b.ingest([b.step_started(iid, 2, "fetch")])
    end = {
        "canceled": b.ev("WorkflowCanceled", iid, 5, reason="withdrawn"),
        "failed": b.failed(iid, 5, error="boom"),
        "completed": b.completed(iid, 5),
    }[ending]
    b.ingest([end])
    chart = chart_for(iid)
    for label in ("Approve", "Fetch"):  # the human step and the automatic one
        row = next(r for r in chart.rows if r.label == label)
        assert (row.status, row.running, row.end) == (status, False, b.at(5))
        assert row.x + row.width == pytest.approx(chart.plot_right)
        assert "so far" not in row.summary
    assert chart.end == b.at(5) and chart.now_x is None


def test_instance_page_draws_a_canceled_step_as_canceled() -> None:
    ensure_demo_users()
    iid, _ = b.waiting_instance(m=0)
    b.ingest([b.ev("WorkflowCanceled", iid, 5, reason="withdrawn")])
    client = Client()
    client.login(request=HttpRequest(), username="admin", password=demo_password("admin"))
    html = client.get(reverse("workflows_ui:instance_detail", args=[iid])).content.decode()
    gantt = html[html.index('<svg class="gantt"') : html.index("</svg>")]
    assert 'class="bar status-canceled"' in gantt
    assert "status-running" not in gantt and " running" not in gantt
    assert "still running" not in html


def test_exports_add_human_columns_after_the_machine_ones(complex_instance) -> None:
    """The machine columns keep their order (a contract); the labels follow them."""
    client = manager_client()  # the demo people: alice is Alice Martin, bob Bob Chen
    instances = read_csv(client.get(reverse("workflows_ui:export_instances")))
    machine = [label for _, label in exports.INSTANCE_FIELDS]
    assert instances[0] == [*machine, "workflow_label", "current_step_label", "initiator_name"]
    row = dict(zip(instances[0], instances[1], strict=True))
    assert (row["workflow"], row["workflow_label"]) == ("expense_approval", "Expense approval")

    tasks = read_csv(client.get(reverse("workflows_ui:export_tasks")))
    machine = [label for _, label in exports.TASK_FIELDS]
    assert tasks[0][: len(machine)] == machine
    task = dict(zip(tasks[0], tasks[1], strict=True))
    assert (task["step"], task["step_label"]) == ("review", "Review")
    assert (task["completed_by"], task["completed_by_name"]) == ("bob", "Bob Chen")
    assert (task["assignee"], task["assignee_name"]) == ("bob", "Bob Chen")
    assert (task["last_reassigned_by"], task["last_reassigned_by_name"]) == (
        "alice",
        "Alice Martin",
    )
    assert task["priority_label"] == "Normal"

    events = read_csv(
        client.get(
            reverse("workflows_ui:export_events"),
            {"instance": str(complex_instance), "scope": "all"},
        )
    )
    assert events[0] == [*(label for _, label in exports.EVENT_FIELDS), "description"]
    described = {r[2]: r[-1] for r in events[1:]}
    assert described["HumanTaskReassigned"] == "Alice Martin reassigned 'Review it' to Bob Chen"
    assert described["HumanTaskCompleted"] == "Bob Chen completed 'Review it'"
    assert any(r[-1].startswith("Step 'Charge' failed") for r in events[1:])
