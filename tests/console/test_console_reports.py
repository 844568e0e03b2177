"""Reports against numbers computed by hand for a fixed set of events."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from demo.users import demo_password, ensure_demo_users
from tests.support import events as b
from workflows_ui.reports import build_report, percentile

pytestmark = pytest.mark.django_db

NOW = b.at(0) + timedelta(days=29, hours=3)  # the 30-day window starts on the events' first day


def alpha(i: int) -> uuid.UUID:
    return uuid.UUID(int=0xA0 + i)


def beta(i: int) -> uuid.UUID:
    return uuid.UUID(int=0xB0 + i)


def tid(n: int) -> uuid.UUID:
    return uuid.UUID(int=0x1000 + n)


@pytest.fixture
def events() -> None:
    a = {"workflow_name": "alpha"}
    bb = {"workflow_name": "beta"}
    evs = [
        # alpha 1: completed after 60 min; task 10 min, due at 5 (late), reassigned once
        b.started(alpha(1), 0, **a),
        b.task_created(alpha(1), 1, "approve", tid(1), assignee="alice", due_at=b.at(5)),
        b.task_reassigned(alpha(1), 2, "approve", tid(1), to_assignee="bob"),
        b.task_completed(alpha(1), 11, "approve", tid(1), "bob"),
        b.completed(alpha(1), 60),
        # alpha 2: completed after 120 min; task 30 min, due at 60 (on time)
        b.started(alpha(2), 0, **a),
        b.task_created(alpha(2), 1, "approve", tid(2), assignee="alice", due_at=b.at(60)),
        b.task_completed(alpha(2), 31, "approve", tid(2), "alice"),
        b.completed(alpha(2), 120),
        # alpha 3: the engine says 600 s
        b.started(alpha(3), 0, **a),
        b.completed(alpha(3), 10, duration_seconds=600),
        # alpha 4: failed; its task is closed, not overdue
        b.started(alpha(4), 0, **a),
        b.task_created(alpha(4), 1, "approve", tid(4), assignee="alice", due_at=b.at(2)),
        b.failed(alpha(4), 5),
        # alpha 5: canceled
        b.started(alpha(5), 0, **a),
        b.ev("WorkflowCanceled", alpha(5), 5, reason="x"),
        # alpha 6: waiting on a task long past due
        b.started(alpha(6), 0, **a),
        b.task_created(alpha(6), 1, "approve", tid(6), assignee="alice", due_at=b.at(2)),
        # beta 1: task completed the next day, instance after 1500 min
        b.started(beta(1), 0, **bb),
        b.task_created(beta(1), 0, "check", tid(11), assignee="carol"),
        b.task_completed(beta(1), 1470, "check", tid(11), "carol"),
        b.completed(beta(1), 1500),
        # beta 2: the day before the window
        b.started(beta(2), -1500, **bb),
        b.task_created(beta(2), -1500, "check", tid(12), assignee="carol"),
        b.task_completed(beta(2), -1440, "check", tid(12), "carol"),
        b.completed(beta(2), -1440),
    ]
    b.ingest(evs)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([600, 3600, 7200], 0.5) == 3600
    assert percentile([600, 3600, 7200], 0.9) == pytest.approx(6480)
    assert percentile([1, 2, 3, 4], 0.5) == 2.5


def test_per_workflow_numbers(events) -> None:
    report = build_report(filters={}, now=NOW)
    alpha_row, beta_row = report.workflows
    assert alpha_row.workflow_name == "alpha"
    assert dict(alpha_row.status_counts()) == {
        "running": 0,
        "waiting": 1,
        "paused": 0,
        "completed": 3,
        "failed": 1,
        "canceled": 1,
    }
    assert alpha_row.total == 6
    # completed durations 600, 3600, 7200 s
    assert alpha_row.median_duration == 3600
    assert alpha_row.p90_duration == pytest.approx(6480)
    # 1 failed among 5 ended
    assert alpha_row.failure_rate == pytest.approx(0.2)

    assert beta_row.workflow_name == "beta"
    assert beta_row.counts == {"completed": 2}
    # 3600 and 90000 s
    assert beta_row.median_duration == 46800
    assert beta_row.p90_duration == pytest.approx(81360)
    assert beta_row.failure_rate == 0


def test_per_step_numbers(events) -> None:
    report = build_report(filters={}, now=NOW)
    approve, check = report.steps
    assert (approve.workflow_name, approve.step_name) == ("alpha", "approve")
    assert (approve.tasks, approve.completed, approve.reassigned) == (4, 2, 1)
    # cycle times 600 and 1800 s
    assert approve.median_cycle == 1200
    assert approve.p90_cycle == pytest.approx(1680)
    assert approve.reassignment_rate == pytest.approx(0.25)
    # tid(1) completed late, tid(6) still open past due; tid(4) was closed by the failure
    assert approve.overdue == 2

    assert (check.workflow_name, check.step_name, check.tasks, check.overdue) == (
        "beta",
        "check",
        2,
        0,
    )
    # cycle times 3600 and 88200 s
    assert check.median_cycle == 45900
    assert check.p90_cycle == pytest.approx(79740)


def test_completions_per_day(events) -> None:
    report = build_report(filters={}, now=NOW)
    assert len(report.per_day) == 30
    assert report.per_day[0] == (b.BASE_TIME.date(), 2)
    assert report.per_day[1] == (b.BASE_TIME.date() + timedelta(days=1), 1)
    assert report.per_day[-1] == (NOW.date(), 0)
    assert all(n == 0 for _, n in report.per_day[2:])
    assert report.completions_last_30_days == 3
    assert report.per_day[0][0] == NOW.date() - timedelta(days=29)


def test_workflow_filter(events) -> None:
    report = build_report(filters={"workflow": "beta"}, now=NOW)
    assert [r.workflow_name for r in report.workflows] == ["beta"]
    assert [r.step_name for r in report.steps] == ["check"]
    assert report.completions_last_30_days == 1


def test_reports_page_shows_charts_and_tables(events) -> None:
    ensure_demo_users()
    client = Client()
    client.login(request=HttpRequest(), username="erin", password=demo_password("erin"))
    html = client.get(reverse("workflows_ui:reports")).content.decode()
    assert html.count("<svg") == 3
    assert "<caption>Instances by status, duration and failure rate per workflow</caption>" in html
    assert "20.0%" in html  # alpha's failure rate
    assert "25.0%" in html  # alpha/approve reassignment rate
    assert "1 h" in html  # alpha's median duration
