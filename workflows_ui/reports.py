"""Report numbers: per workflow, per step, and completions per day.

Percentiles interpolate linearly between the closest ranks (the common "inclusive"
definition, as numpy's default and spreadsheets' PERCENTILE.INC).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from workflows.models import HumanTask, WorkflowInstance
from workflows_ui.selectors import day_end, day_start

Status = WorkflowInstance.Status


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class WorkflowRow:
    workflow_name: str
    counts: dict[str, int] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ended(self) -> int:
        return sum(self.counts.get(s, 0) for s in WorkflowInstance.TERMINAL)

    @property
    def failure_rate(self) -> float | None:
        """Failed among ended instances (completed, failed or canceled)."""
        return self.counts.get(Status.FAILED, 0) / self.ended if self.ended else None

    @property
    def median_duration(self) -> float | None:
        return percentile(self.durations, 0.5)

    @property
    def p90_duration(self) -> float | None:
        return percentile(self.durations, 0.9)

    def status_counts(self) -> list[tuple[str, int]]:
        return [(s, self.counts.get(s, 0)) for s in Status.values]


@dataclass
class StepRow:
    workflow_name: str
    step_name: str
    tasks: int = 0
    completed: int = 0
    reassigned: int = 0
    overdue: int = 0
    cycle_times: list[float] = field(default_factory=list)

    @property
    def reassignment_rate(self) -> float | None:
        """Tasks reassigned at least once, among all tasks of the step."""
        return self.reassigned / self.tasks if self.tasks else None

    @property
    def median_cycle(self) -> float | None:
        return percentile(self.cycle_times, 0.5)

    @property
    def p90_cycle(self) -> float | None:
        return percentile(self.cycle_times, 0.9)


@dataclass
class Report:
    workflows: list[WorkflowRow]
    steps: list[StepRow]
    per_day: list[tuple[date, int]]
    now: datetime

    @property
    def completions_last_30_days(self) -> int:
        return sum(n for _, n in self.per_day)


def _instances(filters: dict[str, Any]) -> QuerySet[WorkflowInstance]:
    qs = WorkflowInstance.objects.all()
    if filters.get("workflow"):
        qs = qs.filter(workflow_name=filters["workflow"])
    return qs


def workflow_rows(*, filters: dict[str, Any]) -> list[WorkflowRow]:
    """Instances by status per workflow; durations of completed instances."""
    rows: dict[str, WorkflowRow] = {}
    qs = _instances(filters)
    for name, status, n in (
        qs.order_by().values_list("workflow_name", "status").annotate(n=Count("id"))
    ):
        rows.setdefault(name, WorkflowRow(name)).counts[status] = n
    for name, seconds in (
        qs.filter(status=Status.COMPLETED, duration_seconds__isnull=False)
        .values_list("workflow_name", "duration_seconds")
        .iterator(chunk_size=5000)
    ):
        if seconds is not None:
            rows.setdefault(name, WorkflowRow(name)).durations.append(seconds)
    return sorted(rows.values(), key=lambda r: r.workflow_name)


def step_rows(*, filters: dict[str, Any], now: datetime) -> list[StepRow]:
    """Per (workflow, step): task cycle time, reassignment rate and overdue count.

    Overdue: completed after its due date, or still open past it.
    """
    rows: dict[tuple[str, str], StepRow] = {}
    qs = HumanTask.objects.filter(instance__in=_instances(filters)).values_list(
        "instance__workflow_name",
        "step_name",
        "status",
        "created_at",
        "completed_at",
        "due_at",
        "reassignment_count",
    )
    for wf, step, status, created, completed, due, reassigned in qs.iterator(chunk_size=5000):
        row = rows.setdefault((wf, step), StepRow(wf, step))
        row.tasks += 1
        if reassigned:
            row.reassigned += 1
        if status == HumanTask.Status.COMPLETED:
            row.completed += 1
            if created and completed:
                row.cycle_times.append((completed - created).total_seconds())
        if due and (
            (status == HumanTask.Status.COMPLETED and completed and completed > due)
            or (status == HumanTask.Status.OPEN and now > due)
        ):
            row.overdue += 1
    return sorted(rows.values(), key=lambda r: (r.workflow_name, r.step_name))


def completions_per_day(
    *, now: datetime, days: int = 30, filters: dict[str, Any] | None = None
) -> list[tuple[date, int]]:
    """Tasks completed on each of the last ``days`` days (UTC), today included."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    qs = HumanTask.objects.filter(
        status=HumanTask.Status.COMPLETED,
        completed_at__gte=day_start(first),
        completed_at__lt=day_end(today),
    )
    if filters and filters.get("workflow"):
        qs = qs.filter(instance__workflow_name=filters["workflow"])
    counts = dict(
        qs.annotate(day=TruncDate("completed_at"))
        .order_by()
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    by_day: dict[date, int] = defaultdict(int)
    for d, n in counts.items():
        by_day[d if isinstance(d, date) else date.fromisoformat(str(d))] += n
    return [
        (first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


def build_report(*, filters: dict[str, Any], now: datetime) -> Report:
    return Report(
        workflows=workflow_rows(filters=filters),
        steps=step_rows(filters=filters, now=now),
        per_day=completions_per_day(now=now, filters=filters),
        now=now,
    )
