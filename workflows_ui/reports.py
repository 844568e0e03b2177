"""Report numbers: per workflow, per step, and completions per day.

Percentiles interpolate linearly between the closest ranks (the common "inclusive"
definition, as numpy's default, spreadsheets' PERCENTILE.INC and PostgreSQL's
``percentile_cont``). They are computed in the database, one query per table whatever the
number of workflows or steps: PostgreSQL's ``percentile_cont`` on PostgreSQL; on SQLite,
which has none, a window (``ROW_NUMBER``/``COUNT`` per group) sends only the two ranks
around each percentile, which ``interpolate`` combines exactly as ``percentile_cont`` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate

from workflows.models import HumanTask, WorkflowInstance
from workflows_ui.selectors import day_end, day_start

Status = WorkflowInstance.Status


QUANTILES = (0.5, 0.9)


def percentile(values: list[float], q: float) -> float | None:
    """The reference: ``q`` of ``values`` in Python (tests and the benchmark compare)."""
    if not values:
        return None
    ordered = sorted(values)
    lo = rank_below(len(ordered), q)
    return interpolate(len(ordered), q, ordered[lo], ordered[min(lo + 1, len(ordered) - 1)])


def rank_below(n: int, q: float) -> int:
    """0-based rank at or below the ``q`` position among ``n`` ordered values, as SQL's
    ``CAST((n - 1) * q AS INTEGER)`` (both in double precision, so they agree)."""
    return math.floor((n - 1) * q)


def interpolate(n: int, q: float, low: float, high: float) -> float:
    """``percentile_cont``'s value from the two neighbouring ranks ``low`` (at ``rank_below``)
    and ``high`` (the next one; unused when the position falls on a rank)."""
    pos = (n - 1) * q
    lo = math.floor(pos)
    return low if pos == lo else low + (high - low) * (pos - lo)


@dataclass
class WorkflowRow:
    workflow_name: str
    counts: dict[str, int] = field(default_factory=dict)
    median_duration: float | None = None
    p90_duration: float | None = None

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
    median_cycle: float | None = None
    p90_cycle: float | None = None

    @property
    def reassignment_rate(self) -> float | None:
        """Tasks reassigned at least once, among all tasks of the step."""
        return self.reassigned / self.tasks if self.tasks else None


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


def _where_workflow(filters: dict[str, Any], column: str) -> tuple[str, list[Any]]:
    if filters.get("workflow"):
        return f" AND {column} = %s", [filters["workflow"]]
    return "", []


def grouped_percentiles(
    *, source: str, params: list[Any], keys: int
) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """``QUANTILES`` of ``value`` per group, computed by the database.

    ``source`` is a ``SELECT`` of the group's ``keys`` columns ``g0``, ``g1``... and the value
    ``v`` (rows with a NULL value must already be left out). One query,
    whatever the number of groups; groups without rows are absent.
    """
    group = ", ".join(f"g{i}" for i in range(keys))
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT {group}, percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY v) "
            f"FROM ({source}) AS s GROUP BY {group}"
        )
        with connection.cursor() as cur:
            cur.execute(sql, [list(QUANTILES), *params])
            return {tuple(row[:keys]): tuple(row[keys]) for row in cur.fetchall()}
    # SQLite: rank the values per group, keep the two ranks around each quantile.
    wanted = " OR ".join(
        f"rn - 1 - CAST((n - 1) * {q!r} AS INTEGER) IN (0, 1)" for q in QUANTILES
    )
    sql = (
        f"SELECT {group}, n, rn, v FROM ("
        f"SELECT {group}, v, ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY v) AS rn, "
        f"COUNT(*) OVER (PARTITION BY {group}) AS n FROM ({source}) AS s"
        f") AS r WHERE {wanted} ORDER BY {group}, rn"
    )
    ranks: dict[tuple[Any, ...], tuple[int, dict[int, float]]] = {}
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for row in cur.fetchall():
            n, rn, v = row[keys:]
            ranks.setdefault(tuple(row[:keys]), (n, {}))[1][rn - 1] = v
    out = {}
    for key, (n, at) in ranks.items():
        values = []
        for q in QUANTILES:
            lo = rank_below(n, q)
            values.append(interpolate(n, q, at[lo], at.get(lo + 1, at[lo])))
        out[key] = tuple(values)
    return out


def _seconds_between(start: str, end: str) -> str:
    """SQL for ``end - start`` in seconds (a float, to the microsecond, on both databases)."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({end} - {start}))::float8"
    # SQLite keeps naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]": whole seconds by
    # strftime, microseconds from the text (julianday would round to milliseconds).
    return (
        f"((CAST(strftime('%%s', {end}) AS INTEGER) - CAST(strftime('%%s', {start}) AS INTEGER))"
        f" + (CAST(substr({end}, 21, 6) AS INTEGER)"
        f" - CAST(substr({start}, 21, 6) AS INTEGER)) / 1000000.0)"
    )


def workflow_rows(*, filters: dict[str, Any]) -> list[WorkflowRow]:
    """Instances by status per workflow; durations of completed instances."""
    rows: dict[str, WorkflowRow] = {}
    qs = _instances(filters)
    for name, status, n in (
        qs.order_by().values_list("workflow_name", "status").annotate(n=Count("id"))
    ):
        rows.setdefault(name, WorkflowRow(name)).counts[status] = n
    where, params = _where_workflow(filters, "workflow_name")
    table = WorkflowInstance._meta.db_table
    source = (
        f"SELECT workflow_name AS g0, duration_seconds AS v FROM {table} "
        f"WHERE status = %s AND duration_seconds IS NOT NULL{where}"
    )
    for (name,), (median, p90) in grouped_percentiles(
        source=source, params=[Status.COMPLETED, *params], keys=1
    ).items():
        row = rows.setdefault(name, WorkflowRow(name))
        row.median_duration, row.p90_duration = median, p90
    return sorted(rows.values(), key=lambda r: r.workflow_name)


def step_rows(*, filters: dict[str, Any], now: datetime) -> list[StepRow]:
    """Per (workflow, step): task cycle time, reassignment rate and overdue count.

    Overdue: completed after its due date, or still open past it.
    """
    task_status = HumanTask.Status
    late = Q(status=task_status.COMPLETED, completed_at__gt=F("due_at")) | Q(
        status=task_status.OPEN, due_at__lt=now
    )
    qs = (
        HumanTask.objects.filter(instance__in=_instances(filters))
        .order_by()
        .values_list("instance__workflow_name", "step_name")
        .annotate(
            tasks=Count("id"),
            completed=Count("id", filter=Q(status=task_status.COMPLETED)),
            reassigned=Count("id", filter=Q(reassignment_count__gt=0)),
            overdue=Count("id", filter=Q(due_at__isnull=False) & late),
        )
    )
    rows = {
        (wf, step): StepRow(wf, step, tasks, completed, reassigned, overdue)
        for wf, step, tasks, completed, reassigned, overdue in qs
    }
    where, params = _where_workflow(filters, "i.workflow_name")
    tasks, instances = HumanTask._meta.db_table, WorkflowInstance._meta.db_table
    fk = HumanTask._meta.get_field("instance")
    join = f"i.{fk.target_field.column} = t.{fk.column}"  # type: ignore[union-attr]
    source = (
        f"SELECT i.workflow_name AS g0, t.step_name AS g1, "
        f"{_seconds_between('t.created_at', 't.completed_at')} AS v "
        f"FROM {tasks} t JOIN {instances} i ON {join} "
        f"WHERE t.status = %s AND t.created_at IS NOT NULL AND t.completed_at IS NOT NULL{where}"
    )
    for key, (median, p90) in grouped_percentiles(
        source=source, params=[task_status.COMPLETED, *params], keys=2
    ).items():
        row = rows[(key[0], key[1])]
        row.median_cycle, row.p90_cycle = median, p90
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
