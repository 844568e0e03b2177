"""Report percentiles computed by the database against a Python reference.

Random durations and task cycle times (to the microsecond, ties included) in groups of
1, 2, odd and even sizes, NULL durations and unfinished rows left out; on whichever database
the suite runs (SQLite, or PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

import random
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from workflows import fold
from workflows.models import HumanTask, WorkflowInstance
from workflows_ui import reports
from workflows_ui.reports import build_report, percentile

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SIZES = [1, 2, 3, 4, 7, 10, 25]


def reference(values: list[float]) -> tuple[float | None, float | None]:
    """Median and p90 by the standard library (inclusive linear interpolation)."""
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def seconds(rnd: random.Random) -> float:
    if rnd.random() < 0.2:
        return float(rnd.choice([60, 3600]))  # ties
    return rnd.randrange(1, 10**6) + rnd.randrange(10**6) / 10**6


def report_fields(
    workflow: str, status: str, created: datetime | None, completed: datetime | None
) -> dict[str, Any]:
    """The task's copies the fold writes (``workflows.fold.report_fields``)."""
    task = {"status": status, "created_at": created, "completed_at": completed}
    fold.report_fields(task, workflow)
    return {"workflow_name": task["workflow_name"], "cycle_seconds": task["cycle_seconds"]}


def world(rnd: random.Random, workflows: list[str]) -> dict[str, Any]:
    """Instances and tasks; the values each group's percentiles must be computed from."""
    durations: dict[str, list[float]] = {}
    cycles: dict[tuple[str, str], list[float]] = {}
    instances, tasks = [], []
    for w, name in enumerate(workflows):
        size = SIZES[w % len(SIZES)]
        for i in range(size + 4):
            status = "completed" if i < size + 1 else rnd.choice(["running", "failed", "canceled"])
            duration: float | None = seconds(rnd)
            if i == size:
                duration = None  # completed without a duration: left out
            elif status == "completed":
                durations.setdefault(name, []).append(duration)
            started = NOW - timedelta(days=rnd.randrange(60), microseconds=rnd.randrange(10**6))
            inst = WorkflowInstance(
                instance_id=uuid.UUID(int=rnd.getrandbits(128)),
                workflow_name=name,
                status=status,
                started_at=started,
                duration_seconds=duration,
            )
            instances.append(inst)
            for s, step in enumerate(["check", "approve"][: 1 + (w + i) % 2]):
                created: datetime | None = started + timedelta(microseconds=rnd.randrange(10**9))
                task_status = rnd.choice(["completed", "completed", "completed", "open"])
                cycle = seconds(rnd)
                completed = (
                    created + timedelta(seconds=cycle) if task_status == "completed" else None
                )
                if task_status == "completed" and s == 1 and i % 5 == 0:
                    created = None  # no start known: left out
                elif completed is not None and created is not None:
                    cycles.setdefault((name, step), []).append(
                        (completed - created).total_seconds()
                    )
                tasks.append(
                    HumanTask(
                        task_id=uuid.UUID(int=rnd.getrandbits(128)),
                        instance=inst,
                        step_name=step,
                        status=task_status,
                        created_at=created,
                        completed_at=completed,
                        **report_fields(name, task_status, created, completed),
                    )
                )
    # steps with exactly one and exactly two cycle times, on the first instance
    for step, n in (("solo", 1), ("pair", 2)):
        for _ in range(n):
            created = NOW - timedelta(days=3)
            done = created + timedelta(seconds=seconds(rnd))
            cycles.setdefault((workflows[0], step), []).append((done - created).total_seconds())
            tasks.append(
                HumanTask(
                    task_id=uuid.UUID(int=rnd.getrandbits(128)),
                    instance=instances[0],
                    step_name=step,
                    status="completed",
                    created_at=created,
                    completed_at=done,
                    **report_fields(workflows[0], "completed", created, done),
                )
            )
    WorkflowInstance.objects.bulk_create(instances)
    HumanTask.objects.bulk_create(tasks)
    return {"durations": durations, "cycles": cycles}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_database_percentiles_equal_the_python_reference(seed: int) -> None:
    rnd = random.Random(seed)
    expected = world(rnd, [f"wf-{n}" for n in range(len(SIZES))])
    report = build_report(filters={}, now=NOW)

    assert {r.workflow_name for r in report.workflows} == set(expected["durations"])
    for row in report.workflows:
        values = expected["durations"][row.workflow_name]
        median, p90 = reference(values)
        assert row.median_duration == pytest.approx(median, rel=1e-12, abs=1e-9)
        assert row.p90_duration == pytest.approx(p90, rel=1e-12, abs=1e-9)
        assert row.median_duration == pytest.approx(percentile(values, 0.5), rel=1e-12)

    sizes = set()
    for step in report.steps:
        values = expected["cycles"].get((step.workflow_name, step.step_name), [])
        sizes.add(len(values))
        median, p90 = reference(values)
        if median is None:
            assert step.median_cycle is None and step.p90_cycle is None
            continue
        # to the microsecond (the reference's statistics interpolate by their own formula)
        assert step.median_cycle == pytest.approx(median, abs=1e-6)
        assert step.p90_cycle == pytest.approx(p90, abs=1e-6)
    assert {1, 2} <= sizes and any(n % 2 for n in sizes) and any(n and n % 2 == 0 for n in sizes)


def test_the_workflow_filter_keeps_only_its_groups() -> None:
    expected = world(random.Random(7), ["one", "two", "three"])
    report = build_report(filters={"workflow": "three"}, now=NOW)
    assert [r.workflow_name for r in report.workflows] == ["three"]
    assert report.workflows[0].median_duration == pytest.approx(
        reference(expected["durations"]["three"])[0]
    )
    assert {s.workflow_name for s in report.steps} == {"three"}


def page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("workflows_ui:reports"))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_reports_page_query_count_does_not_grow_with_groups(admin_user) -> None:
    client = Client()
    client.force_login(admin_user)
    world(random.Random(11), ["a", "b"])
    few = page_queries(client)
    world(random.Random(12), [f"more-{n}" for n in range(12)])
    many = page_queries(client)
    html = client.get(reverse("workflows_ui:reports")).content.decode()
    assert "More 11" in html or "more-11" in html
    # six for the report (status counts, durations, step counts, cycle times, per day, the
    # workflow names), seven for the console's frame (session, user, time zone, badges, views)
    assert many == few <= 13


def test_many_groups_split_into_several_queries_give_the_same_figures(monkeypatch) -> None:
    """SQLite's limit of 500 compound terms splits the rank queries."""
    world(random.Random(5), [f"wf-{n}" for n in range(len(SIZES))])
    whole = build_report(filters={}, now=NOW)
    monkeypatch.setattr(reports, "_TERMS_PER_QUERY", 1)
    split = build_report(filters={}, now=NOW)
    assert split.workflows == whole.workflows
    assert split.steps == whole.steps
    assert any(r.median_duration for r in split.workflows)
    assert any(s.median_cycle for s in split.steps)
