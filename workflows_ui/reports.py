"""Report numbers: per workflow, per step, and completions per day.

Percentiles interpolate linearly between the closest ranks (the common "inclusive"
definition, as numpy's default, spreadsheets' PERCENTILE.INC and PostgreSQL's
``percentile_cont``). They are computed in the database, a fixed number of queries whatever
the number of workflows or steps, the same SQL on SQLite and PostgreSQL: the counting query
gives each group's size, then only the two values around each percentile's rank leave the
database (``ORDER BY value LIMIT 2 OFFSET rank`` along an index ending in (group, value)),
which ``interpolate`` combines exactly as ``percentile_cont`` does. Instance durations walk
``instance_report_idx`` (status, workflow, duration); task cycle times ``task_report_idx``
(workflow, step, cycle seconds), the copies of the workflow name and cycle time that the
fold keeps on the task row, so no figure joins the tasks to their instances.
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


def _wanted_ranks(n: int) -> list[int]:
    """0-based ranks whose values ``QUANTILES`` of ``n`` values need."""
    return sorted({r for q in QUANTILES for r in (rank_below(n, q), rank_below(n, q) + 1) if r < n})


def _from_ranks(n: int, at: dict[int, float]) -> tuple[float, ...]:
    out = []
    for q in QUANTILES:
        lo = rank_below(n, q)
        out.append(interpolate(n, q, at[lo], at.get(lo + 1, at[lo])))
    return tuple(out)


# SQLite refuses a compound SELECT of more than 500 terms.
_TERMS_PER_QUERY = 400


def _indexed_percentiles(
    *,
    table: str,
    group: tuple[str, ...],
    value: str,
    where: str,
    params: list[Any],
    sizes: dict[tuple[Any, ...], int],
) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """A value that is a column: per group (``sizes``: the number of non-null values of
    each), the two values at the quantile's rank (``ORDER BY value LIMIT 2 OFFSET rank``),
    walked along an index on (…, *group, value); all groups in one compound query (one per
    400 ranks)."""
    terms = sorted({(key, rank_below(n, q)) for key, n in sizes.items() for q in QUANTILES})
    match = " AND ".join([*([where] if where else []), *(f"{c} = %s" for c in group)])
    ranks: dict[tuple[Any, ...], dict[int, float]] = {}
    with connection.cursor() as cur:
        for start in range(0, len(terms), _TERMS_PER_QUERY):
            chunk = terms[start : start + _TERMS_PER_QUERY]
            cur.execute(
                " UNION ALL ".join(
                    f"SELECT * FROM (SELECT {t} AS t, {value} AS v FROM {table} "
                    f"WHERE {match} AND {value} IS NOT NULL "
                    f"ORDER BY {value} LIMIT 2 OFFSET %s) AS r{t}"
                    for t in range(len(chunk))
                ),
                [v for key, lo in chunk for v in (*params, *key, lo)],
            )
            previous = -1
            for t, v in cur.fetchall():  # each term's rank, then the next rank
                key, lo = chunk[t]
                ranks.setdefault(key, {})[lo if t != previous else lo + 1] = v
                previous = t
    return {key: _from_ranks(sizes[key], at) for key, at in ranks.items()}


def workflow_rows(*, filters: dict[str, Any]) -> list[WorkflowRow]:
    """Instances by status per workflow; durations of completed instances."""
    rows: dict[str, WorkflowRow] = {}
    sizes: dict[tuple[Any, ...], int] = {}
    qs = _instances(filters)
    for status, name, n, timed in (
        qs.order_by()
        .values_list("status", "workflow_name")  # the order of the (status, workflow) index
        .annotate(n=Count("*"), timed=Count("duration_seconds"))
    ):
        rows.setdefault(name, WorkflowRow(name)).counts[status] = n
        if status == Status.COMPLETED and timed:
            sizes[(name,)] = timed
    found = _indexed_percentiles(
        table=connection.ops.quote_name(WorkflowInstance._meta.db_table),
        group=("workflow_name",),
        value="duration_seconds",
        where="status = %s",
        params=[Status.COMPLETED],
        sizes=sizes,
    )
    percentiles = {key[0]: values for key, values in found.items()}
    for name, (median, p90) in percentiles.items():
        rows[name].median_duration, rows[name].p90_duration = median, p90
    return sorted(rows.values(), key=lambda r: r.workflow_name)


def step_rows(*, filters: dict[str, Any], now: datetime) -> list[StepRow]:
    """Per (workflow, step): task cycle time, reassignment rate and overdue count.

    Overdue: completed after its due date, or still open past it. The task row carries its
    workflow's name and its cycle time (``HumanTask.workflow_name``, ``cycle_seconds``,
    written by the fold), so nothing here joins the instances.
    """
    task_status = HumanTask.Status
    late = Q(status=task_status.COMPLETED, completed_at__gt=F("due_at")) | Q(
        status=task_status.OPEN, due_at__lt=now
    )
    tasks = HumanTask.objects.all()
    if filters.get("workflow"):
        tasks = tasks.filter(workflow_name=filters["workflow"])
    qs = (
        tasks.order_by()
        .values_list("workflow_name", "step_name")  # the order of task_report_idx
        .annotate(
            # counted over columns of task_report_idx (never "id"): PostgreSQL may then
            # answer from the index alone, as SQLite does (its rowid is in every index)
            tasks=Count("*"),
            completed=Count("step_name", filter=Q(status=task_status.COMPLETED)),
            reassigned=Count("step_name", filter=Q(reassignment_count__gt=0)),
            overdue=Count("step_name", filter=Q(due_at__isnull=False) & late),
            timed=Count("cycle_seconds"),
        )
    )
    rows: dict[tuple[str, str], StepRow] = {}
    sizes: dict[tuple[Any, ...], int] = {}
    for wf, step, n, completed, reassigned, overdue, n_timed in qs:
        rows[(wf, step)] = StepRow(wf, step, n, completed, reassigned, overdue)
        if n_timed:
            sizes[(wf, step)] = n_timed
    if sizes:
        for (wf, step), (median, p90) in _cycle_percentiles(sizes).items():
            rows[(wf, step)].median_cycle, rows[(wf, step)].p90_cycle = median, p90
    return sorted(rows.values(), key=lambda r: (r.workflow_name, r.step_name))


def _cycle_percentiles(
    sizes: dict[tuple[Any, ...], int],
) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """Cycle-time percentiles of the (workflow, step) groups in ``sizes`` (their numbers of
    cycle times)."""
    return _indexed_percentiles(
        table=connection.ops.quote_name(HumanTask._meta.db_table),
        group=("workflow_name", "step_name"),
        value="cycle_seconds",
        where="",
        params=[],
        sizes=sizes,
    )


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
        qs = qs.filter(workflow_name=filters["workflow"])
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
