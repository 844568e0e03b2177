"""Chart geometry computed on the server; templates draw it as SVG (no JavaScript).

Every chart here is also shown as a table of the same numbers by its template.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.timezone import localtime

from pages.templatetags.formatting import number
from workflows.labels import step_label
from workflows.models import HumanTask, StepRun, WorkflowInstance
from workflows.timeline import format_duration

# --- step chart (Gantt) ----------------------------------------------------------------------

LABEL_W = 210
PLOT_W = 640
ROW_H = 28
BAR_H = 16
TOP = 28


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    at: datetime
    label: str


@dataclass(frozen=True, slots=True)
class GanttRow:
    label: str
    kind: str  # "step" or "task"
    status: str
    start: datetime | None
    end: datetime | None
    running: bool
    x: float
    width: float
    y: float
    attempt: int = 1
    step_type: str = ""
    retry_count: int = 0
    error: str = ""
    assignee: str = ""
    reassignments: tuple[Marker, ...] = ()
    due_at: datetime | None = None
    due_x: float | None = None
    due_later: bool = False
    overdue: bool = False

    @property
    def duration_seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration_seconds)

    @property
    def bar_y(self) -> float:
        return self.y + (ROW_H - BAR_H) / 2

    @property
    def text_y(self) -> float:
        return self.y + ROW_H / 2 + 4

    @property
    def summary(self) -> str:
        """One sentence for the bar's tooltip (<title>)."""
        parts = [f"{self.label}: {self.status}"]
        if self.duration_seconds is not None:
            parts.append(("so far " if self.running else "") + self.duration_text)
        if self.retry_count:
            parts.append(f"{self.retry_count} retries")
        if self.reassignments:
            n = len(self.reassignments)
            parts.append(f"reassigned {n} time" + ("" if n == 1 else "s"))
        if self.due_at:
            due = localtime(self.due_at)
            parts.append(("overdue, " if self.overdue else "") + f"due {due:%Y-%m-%d %H:%M}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class GanttChart:
    rows: list[GanttRow]
    ticks: list[Tick]
    start: datetime
    end: datetime
    label_w: int = LABEL_W
    plot_w: int = PLOT_W
    row_h: int = ROW_H
    bar_h: int = BAR_H
    top: int = TOP
    now_x: float | None = None

    @property
    def width(self) -> int:
        return self.label_w + self.plot_w + 20

    @property
    def height(self) -> float:
        return self.top + len(self.rows) * self.row_h + 8

    @property
    def plot_right(self) -> int:
        return self.label_w + self.plot_w

    @property
    def plot_bottom(self) -> float:
        return self.top + len(self.rows) * self.row_h


def _task_end(task: HumanTask) -> datetime | None:
    return task.completed_at or task.closed_at


def step_chart(
    *,
    instance: WorkflowInstance,
    steps: Sequence[StepRun],
    tasks: Sequence[HumanTask],
    reassigned_at: dict[uuid.UUID, list[datetime]],
    now: datetime,
) -> GanttChart | None:
    """One bar per step run (attempts apart) and per human task, on a shared time axis.

    Running bars end at ``now``; once the instance ended, a step still open ends at the
    instance's end, drawn in its final state (canceled, failed, completed). Task bars are
    the human wait, with reassignments as markers and the due date as a tick on the same row
    (pinned to the right edge, as "due later", when it falls after the chart's end).
    """
    items: list[tuple[tuple[datetime, int, int], StepRun | HumanTask]] = []
    for i, run in enumerate(steps):
        if run.started_at or run.ended_at:
            items.append((((run.started_at or run.ended_at), 0, i), run))  # type: ignore[arg-type]
    for i, task in enumerate(tasks):
        if task.created_at:
            items.append(((task.created_at, 1, i), task))
    if not items:
        return None
    items.sort(key=lambda pair: pair[0])

    horizon = instance.ended_at or now
    times: list[datetime] = [k[0] for k, _ in items]
    if instance.started_at:
        times.append(instance.started_at)
    for _, item in items:
        end = item.ended_at if isinstance(item, StepRun) else _task_end(item)
        times.append(end or horizon)
    start, end = min(times), max(times)
    span = max((end - start).total_seconds(), 1.0)

    def x_of(t: datetime) -> float:
        return round(LABEL_W + (t - start).total_seconds() / span * PLOT_W, 2)

    ended = instance.ended_at is not None
    rows: list[GanttRow] = []
    for index, (_, item) in enumerate(items):
        y = TOP + index * ROW_H
        if isinstance(item, StepRun):
            s = item.started_at or item.ended_at
            e = item.ended_at
            status = item.status
            if e is None and ended:
                # The instance ended while the step ran: the step ends with it, in the
                # instance's final state (canceled, failed, completed), not running on.
                e = max(horizon, s)  # type: ignore[type-var]
                status = instance.status
            running = e is None
            e_draw = e or horizon
            label = step_label(item.step_name) + (
                f" (attempt {item.attempt})" if item.attempt > 1 else ""
            )
            x0, x1 = x_of(s), x_of(e_draw)  # type: ignore[arg-type]
            rows.append(
                GanttRow(
                    label=label,
                    kind="step",
                    status=status,
                    start=s,
                    end=e_draw if running else e,
                    running=running,
                    x=x0,
                    width=max(x1 - x0, 2.0),
                    y=y,
                    attempt=item.attempt,
                    step_type=item.step_type,
                    retry_count=item.retry_count,
                    error=(f"{item.error_type}: " if item.error_type else "") + item.error,
                )
            )
        else:
            task = item
            s = task.created_at
            e = _task_end(task)
            running = e is None
            e_draw = e or horizon
            x0, x1 = x_of(s), x_of(e_draw)  # type: ignore[arg-type]
            marks = tuple(
                Marker(x_of(t), t, f"reassigned at {localtime(t):%H:%M:%S}")
                for t in reassigned_at.get(task.task_id, [])
            )
            finished = e or now
            rows.append(
                GanttRow(
                    label=f"task: {task.title or step_label(task.step_name)}",
                    kind="task",
                    status=task.status,
                    start=s,
                    end=e_draw,
                    running=running,
                    x=x0,
                    width=max(x1 - x0, 2.0),
                    y=y,
                    assignee=task.assignee,
                    reassignments=marks,
                    due_at=task.due_at,
                    # A due date past the chart's end is pinned to the right edge.
                    due_x=x_of(min(task.due_at, end)) if task.due_at else None,
                    due_later=bool(task.due_at and task.due_at > end),
                    overdue=bool(task.due_at and finished > task.due_at),
                )
            )

    ticks = [
        Tick(LABEL_W + PLOT_W * i / 4, "+" + (format_duration(span * i / 4) or "0 s"))
        for i in range(5)
    ]
    ticks[0] = Tick(LABEL_W, f"{localtime(start):%H:%M:%S}")
    now_x = x_of(now) if instance.ended_at is None and start <= now <= end else None
    return GanttChart(rows=rows, ticks=ticks, start=start, end=end, now_x=now_x)


# --- bar charts for reports ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    label: str
    value: float
    css: str
    x: float = 0.0
    width: float = 0.0
    text: str = ""


@dataclass(frozen=True)
class BarRow:
    label: str
    y: float
    segments: list[Segment]
    total_text: str = ""
    label_lines: tuple[str, ...] = ()  # the label wrapped to fit beside the bars
    label_y: float = 0.0  # the first line's baseline
    text_y: float = 0.0  # the value's baseline (the bar's middle)


LABEL_CHARS = 38  # what fits on one line of a bar chart's label column (12px text)
LABEL_LINES = 2


def wrap_label(label: str, width: int = LABEL_CHARS, lines: int = LABEL_LINES) -> tuple[str, ...]:
    """``label`` in at most ``lines`` lines of ``width`` characters, broken after a space,
    a "·", an underscore or a hyphen where it can be; what is still too long ends in "…"
    (the whole label is the row's tooltip and in the table below the chart)."""
    out: list[str] = []
    rest = label.strip()
    while rest and len(out) < lines:
        if len(rest) <= width:
            out.append(rest)
            rest = ""
            break
        cut = max(rest.rfind(c, 0, width) for c in (" ", "_", "-", "·"))
        cut = cut + 1 if cut >= width // 3 else width
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        last = out[-1]
        out[-1] = (last[: width - 1].rstrip() if len(last) >= width else last) + "…"
    return tuple(out) or ("",)


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, stacked when a row has several segments."""

    rows: list[BarRow]
    legend: list[tuple[str, str]]
    label_w: int = 300  # room for LABEL_CHARS of wide letters
    plot_w: int = 480
    row_h: int = 26  # 40 when a label takes two lines
    top: int = 8
    max_value: float = 0.0

    @property
    def width(self) -> int:
        return self.label_w + self.plot_w + 90

    @property
    def height(self) -> float:
        return self.top + len(self.rows) * self.row_h + 8

    @property
    def bar_h(self) -> int:
        return self.row_h - 10


def bar_chart(
    data: Sequence[tuple[str, Sequence[tuple[str, float, str]]]],
    *,
    value_text: str = "count",
    stacked: bool = True,
) -> BarChart:
    """``data`` is (row label, [(segment label, value, css class)]).

    Stacked rows share one bar; otherwise each row has one segment (the first).
    """
    totals = [
        sum(v for _, v, _ in segs) if stacked else (segs[0][1] if segs else 0) for _, segs in data
    ]
    max_value = max(totals, default=0) or 1
    wrapped = [wrap_label(label) for label, _ in data]
    row_h = 40 if any(len(lines) > 1 for lines in wrapped) else 26
    chart = BarChart(rows=[], legend=[], row_h=row_h)
    rows: list[BarRow] = []
    legend: dict[str, str] = {}
    for i, (label, segs) in enumerate(data):
        x = float(chart.label_w)
        out: list[Segment] = []
        for seg_label, value, css in segs if stacked else segs[:1]:
            w = value / max_value * chart.plot_w
            text = _value_text(value, value_text)
            out.append(Segment(seg_label, value, css, round(x, 2), round(w, 2), text))
            legend.setdefault(css, seg_label)
            x += w
        y = chart.top + i * row_h
        middle = y + row_h / 2 - 1  # of the bar (drawn from y + 4, row_h - 10 high)
        lines = wrapped[i]
        rows.append(
            BarRow(
                label=label,
                y=y,
                segments=out,
                total_text=_value_text(totals[i], value_text),
                label_lines=lines,
                label_y=round(middle + 4 - 7 * (len(lines) - 1), 2),
                text_y=round(middle + 4, 2),
            )
        )
    return BarChart(
        rows=rows,
        legend=[(c, lbl) for c, lbl in legend.items()],
        max_value=max_value,
        row_h=row_h,
    )


def _value_text(value: float, kind: str) -> str:
    if kind == "duration":
        return format_duration(value)
    return number(int(value) if float(value).is_integer() else value)


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    value: int
    x: float
    y: float
    height: float
    show_label: bool


@dataclass(frozen=True)
class ColumnChart:
    columns: list[Column]
    width: int
    height: int
    base_y: float
    max_value: int
    col_w: float
    gridlines: list[tuple[float, int]] = field(default_factory=list)


def column_chart(
    points: Sequence[tuple[str, int]], *, width: int = 760, height: int = 200
) -> ColumnChart:
    """Vertical columns (e.g. completions per day), every fifth label shown."""
    left, bottom, top = 36, 28, 10
    plot_h = height - bottom - top
    n = max(len(points), 1)
    slot = (width - left - 8) / n
    max_value = max((v for _, v in points), default=0) or 1
    cols = []
    for i, (label, value) in enumerate(points):
        h = value / max_value * plot_h
        cols.append(
            Column(
                label=label,
                value=value,
                x=round(left + i * slot + slot * 0.15, 2),
                y=round(top + plot_h - h, 2),
                height=round(h, 2),
                show_label=(i % 5 == 0 or i == len(points) - 1),
            )
        )
    grid = [(round(top + plot_h - plot_h * f, 2), round(max_value * f)) for f in (0, 0.5, 1)]
    return ColumnChart(
        columns=cols,
        width=width,
        height=height,
        base_y=top + plot_h,
        max_value=max_value,
        col_w=round(slot * 0.7, 2),
        gridlines=grid,
    )
