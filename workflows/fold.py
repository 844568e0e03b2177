"""Projections as folds: the rows of an instance are a pure function of its set of events.

``fold_instance`` is that function: no database here. ``fold_more`` continues a fold from
a ``FoldProgress`` (the fold's value after some events), which ``workflows.store`` keeps
in the ``FoldState`` model between ingests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows.events import fold_order
from workflows.models import HumanTask, StepRun, WorkflowInstance, dashboard_actor
from workflows.wire import parse_datetime

Status = WorkflowInstance.Status
StepStatus = StepRun.Status
TaskStatus = HumanTask.Status


@dataclass(frozen=True, slots=True)
class EventRow:
    """What the fold needs of a stored event."""

    seq: int
    event_id: uuid.UUID
    type: str
    timestamp: datetime
    payload: dict[str, Any]
    source: str = ""

    @property
    def sort_key(self) -> tuple[datetime, int, str]:
        return fold_order(self)


def _sort_key(event: EventRow) -> tuple[datetime, int, str]:
    return event.sort_key


@dataclass
class Fold:
    instance: dict[str, Any]
    steps: list[dict[str, Any]]
    tasks: dict[uuid.UUID, dict[str, Any]]
    # What a later fold needs beyond these rows to continue from here (FoldProgress.carry);
    # workflows.store keeps it in the FoldState model.
    carry: dict[str, Any] = field(default_factory=dict)


def instance_defaults(instance_id: uuid.UUID) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "workflow_name": "",
        "workflow_version": "",
        "status": Status.RUNNING,
        "engine_status": "",
        "current_step": "",
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "first_event_at": None,
        "last_event_at": None,
        "event_count": 0,
        "initial_data": None,
        "initiator": "",
        "tenant_id": "",
        "final_step": "",
        "error": "",
        "error_type": "",
        "failed_step": "",
        "stack_trace": "",
        "cancel_reason": "",
        "canceled_by": "",
        "pause_reason": "",
        "paused_by": "",
        "paused_at": None,
        "resumed_by": "",
        "resumed_at": None,
    }


def task_defaults(task_id: uuid.UUID, step_name: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "step_name": step_name,
        "title": "",
        "description": "",
        "assignee": "",
        "due_at": None,
        "form_schema": None,
        "priority": 0,
        "status": TaskStatus.OPEN,
        "created_at": None,
        "completed_at": None,
        "completed_by": "",
        "closed_at": None,
        "closed_reason": "",
        "form_data": None,
        "comment": "",
        "reassignment_count": 0,
        "last_reassigned_at": None,
        "last_reassigned_by": "",
        "last_reassign_reason": "",
        "previous_assignee": "",
        # Derived at the end of the fold (``report_fields``), for the Reports page.
        "workflow_name": "",
        "cycle_seconds": None,
    }


def cycle_seconds(task: dict[str, Any]) -> float | None:
    """A completed task's time from creation to completion, in seconds (to the
    microsecond); None for an open or canceled task, or one without both times."""
    if task["status"] != TaskStatus.COMPLETED or not task["created_at"] or not task["completed_at"]:
        return None
    return float((task["completed_at"] - task["created_at"]).total_seconds())


def report_fields(task: dict[str, Any], workflow_name: str) -> None:
    """Set the task's copies of what the Reports page groups and ranks by: its instance's
    workflow name and its cycle time. Derived from the rest of the fold, never folded."""
    task["workflow_name"] = workflow_name
    task["cycle_seconds"] = cycle_seconds(task)


def step_defaults(step_name: str, attempt: int) -> dict[str, Any]:
    return {
        "step_name": step_name,
        "attempt": attempt,
        "step_type": "",
        "status": StepStatus.RUNNING,
        "engine_status": "",
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "retry_count": 0,
        "error": "",
        "error_type": "",
        "input_data": None,
        "result": None,
        "output_data": None,
        "skip_reason": "",
    }


FOLD_STATE_VERSION = 1


@dataclass
class FoldProgress:
    """The fold's value between two events: what ``_fold_into`` reads and updates.

    After the last event, ``_finish`` derives a few instance fields (current step, waiting,
    duration) and the tasks' report fields (``report_fields``, which nothing in the fold
    reads) from it; everything else in the rows is this state as it is. So the state
    after some events is their rows plus ``carry()``: the instance fields as they were
    before that derivation, the last step named, the order of step runs and tasks, and the
    sort key of the last event folded. ``resume`` rebuilds the state from those.
    """

    inst: dict[str, Any]
    steps: list[dict[str, Any]]
    latest_run: dict[str, dict[str, Any]]
    tasks: dict[uuid.UUID, dict[str, Any]]
    last_step: str = ""
    last_key: tuple[datetime, int, str] | None = None

    @classmethod
    def empty(cls, instance_id: uuid.UUID) -> FoldProgress:
        return cls(instance_defaults(instance_id), [], {}, {})

    def carry(self) -> dict[str, Any]:
        key = self.last_key
        return {
            "v": FOLD_STATE_VERSION,
            "last": None if key is None else [key[0].astimezone(UTC).isoformat(), *key[1:]],
            "status": self.inst["status"],
            "current_step": self.inst["current_step"],
            "duration_seconds": self.inst["duration_seconds"],
            "last_step": self.last_step,
            "steps": [[r["step_name"], r["attempt"]] for r in self.steps],
            "tasks": [str(t) for t in self.tasks],
        }


def resume(
    instance: dict[str, Any],
    steps: dict[tuple[str, int], dict[str, Any]],
    tasks: dict[uuid.UUID, dict[str, Any]],
    carry: Any,
) -> FoldProgress | None:
    """The fold state whose rows and ``carry`` these are; None if they do not fit together.

    ``instance``, ``steps`` and ``tasks`` hold the fold's own fields only (as
    ``instance_defaults``, ``step_defaults``, ``task_defaults``); they are copied.
    """
    if not isinstance(carry, dict) or carry.get("v") != FOLD_STATE_VERSION or not carry["last"]:
        return None
    run_keys = [(name, attempt) for name, attempt in carry["steps"]]
    task_ids = [uuid.UUID(t) for t in carry["tasks"]]
    if set(run_keys) != set(steps) or len(run_keys) != len(steps) or set(task_ids) != set(tasks):
        return None
    inst = dict(instance)
    inst.update(
        status=carry["status"],
        current_step=carry["current_step"],
        duration_seconds=carry["duration_seconds"],
    )
    runs = [dict(steps[k]) for k in run_keys]
    latest_run = {r["step_name"]: r for r in runs}
    ts, rank, event_id = carry["last"]
    return FoldProgress(
        inst=inst,
        steps=runs,
        latest_run=latest_run,
        tasks={t: dict(tasks[t]) for t in task_ids},
        last_step=carry["last_step"],
        last_key=(datetime.fromisoformat(ts), rank, event_id),
    )


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _fold_into(state: FoldProgress, events: Iterable[EventRow]) -> None:
    """The fold's step: apply ``events``, already in sort-key order, to ``state``."""
    inst, steps, latest_run, tasks = state.inst, state.steps, state.latest_run, state.tasks
    terminal = inst["ended_at"] is not None
    last_step = state.last_step
    last: EventRow | None = None

    def run_to_close(step_name: str) -> dict[str, Any]:
        run = latest_run.get(step_name)
        if run is None or run["ended_at"] is not None or run["status"] != StepStatus.RUNNING:
            run = step_defaults(step_name, (run["attempt"] + 1) if run else 1)
            steps.append(run)
            latest_run[step_name] = run
        return run

    def close_open_tasks(at: datetime, reason: str) -> None:
        for task in tasks.values():
            if task["status"] == TaskStatus.OPEN:
                task["status"] = TaskStatus.CANCELED
                task["closed_at"] = at
                task["closed_reason"] = reason

    for ev in events:
        last = ev
        p, ts, t = ev.payload, ev.timestamp, ev.type
        inst["event_count"] += 1
        if inst["first_event_at"] is None:
            inst["first_event_at"] = ts
        inst["last_event_at"] = ts
        step_name = p.get("step_name")
        if step_name:
            last_step = step_name
        if t == "WorkflowStarted":
            if inst["started_at"] is None:
                inst.update(
                    workflow_name=_s(p.get("workflow_name")),
                    workflow_version=_s(p.get("workflow_version")),
                    initial_data=p.get("initial_data"),
                    initiator=_s(p.get("user_id")),
                    tenant_id=_s(p.get("tenant_id")),
                    started_at=ts,
                )
        elif t in ("WorkflowCompleted", "WorkflowFailed", "WorkflowCanceled"):
            if terminal:
                continue
            terminal = True
            inst["ended_at"] = ts
            if t == "WorkflowCompleted":
                inst.update(
                    status=Status.COMPLETED,
                    engine_status=_s(p.get("status")).lower(),
                    final_step=_s(p.get("final_step")),
                )
                if p.get("duration_seconds") is not None:
                    inst["duration_seconds"] = float(p["duration_seconds"])
                if p.get("final_step"):
                    inst["current_step"] = p["final_step"]
            elif t == "WorkflowFailed":
                inst.update(
                    status=Status.FAILED,
                    error=_s(p.get("error")),
                    error_type=_s(p.get("error_type")),
                    failed_step=_s(p.get("failed_step")),
                    stack_trace=_s(p.get("stack_trace")),
                )
                if p.get("failed_step"):
                    inst["current_step"] = p["failed_step"]
            else:
                inst.update(
                    status=Status.CANCELED,
                    cancel_reason=_s(p.get("reason")),
                    canceled_by=_s(p.get("canceled_by")) or dashboard_actor(ev.source),
                )
                if p.get("current_step"):
                    inst["current_step"] = p["current_step"]
            close_open_tasks(ts, f"workflow {inst['status']}")
        elif t == "WorkflowPaused":
            if terminal:
                continue
            inst.update(
                status=Status.PAUSED,
                pause_reason=_s(p.get("reason")),
                # Not a contract field: only the dashboard (the source) names who paused.
                paused_by=dashboard_actor(ev.source),
                paused_at=ts,
            )
            if p.get("paused_at_step"):
                inst["current_step"] = p["paused_at_step"]
        elif t == "WorkflowResumed":
            if terminal or inst["status"] != Status.PAUSED:
                continue
            inst.update(
                status=Status.RUNNING,
                resumed_by=_s(p.get("resumed_by")) or dashboard_actor(ev.source),
                resumed_at=ts,
            )
            if p.get("resuming_at_step"):
                inst["current_step"] = p["resuming_at_step"]
        elif t == "StepStarted":
            run = latest_run.get(p["step_name"])
            if run is None or run["ended_at"] is not None or run["status"] != StepStatus.RUNNING:
                run = step_defaults(p["step_name"], (run["attempt"] + 1) if run else 1)
                steps.append(run)
                latest_run[p["step_name"]] = run
            if run["started_at"] is None:
                run.update(
                    started_at=ts,
                    step_type=_s(p.get("step_type")).lower(),
                    input_data=p.get("input_data"),
                )
        elif t in ("StepCompleted", "StepFailed", "StepSkipped"):
            run = run_to_close(p["step_name"])
            run["ended_at"] = ts
            if t == "StepCompleted":
                run.update(
                    status=StepStatus.COMPLETED,
                    engine_status=_s(p.get("status")).lower(),
                    result=p.get("result"),
                    output_data=p.get("output_data"),
                )
                if p.get("duration_seconds") is not None:
                    run["duration_seconds"] = float(p["duration_seconds"])
            elif t == "StepFailed":
                run.update(
                    status=StepStatus.FAILED,
                    error=_s(p.get("error")),
                    error_type=_s(p.get("error_type")),
                    retry_count=int(p.get("retry_count") or 0),
                )
            else:
                run.update(status=StepStatus.SKIPPED, skip_reason=_s(p.get("reason")))
            if run["duration_seconds"] is None and run["started_at"] is not None:
                run["duration_seconds"] = (ts - run["started_at"]).total_seconds()
        elif t in ("HumanTaskCreated", "HumanTaskCompleted", "HumanTaskReassigned"):
            task_id = uuid.UUID(str(p["task_id"]))
            task = tasks.setdefault(task_id, task_defaults(task_id, p["step_name"]))
            if t == "HumanTaskCreated":
                if task["created_at"] is None:
                    task.update(
                        step_name=p["step_name"],
                        title=_s(p.get("title")),
                        description=_s(p.get("description")),
                        due_at=parse_datetime(p["due_at"]) if p.get("due_at") else None,
                        form_schema=p.get("form_schema"),
                        priority=int(p.get("priority") or 0),
                        created_at=ts,
                    )
                    if task["reassignment_count"] == 0:
                        task["assignee"] = _s(p.get("assignee"))
                if terminal and task["status"] == TaskStatus.OPEN:
                    task.update(
                        status=TaskStatus.CANCELED,
                        closed_at=ts,
                        closed_reason=f"workflow {inst['status']}",
                    )
            elif t == "HumanTaskReassigned":
                task.update(
                    previous_assignee=_s(p.get("from_assignee")) or task["assignee"],
                    assignee=_s(p.get("to_assignee")),
                    last_reassigned_at=ts,
                    last_reassigned_by=_s(p.get("reassigned_by")),
                    last_reassign_reason=_s(p.get("reason")),
                    reassignment_count=task["reassignment_count"] + 1,
                )
            elif task["status"] == TaskStatus.OPEN:
                task.update(
                    status=TaskStatus.COMPLETED,
                    completed_at=ts,
                    closed_at=ts,
                    completed_by=_s(p.get("completed_by")),
                    form_data=p.get("form_data"),
                    comment=_s(p.get("comment")),
                )

    state.last_step = last_step
    if last is not None:
        state.last_key = last.sort_key


def _finish(state: FoldProgress) -> Fold:
    """The rows: the state with what is derived at the end. Consumes ``state``."""
    inst, steps, tasks, last_step = state.inst, state.steps, state.tasks, state.last_step
    terminal = inst["ended_at"] is not None
    carry = state.carry()
    for run in steps:
        if run["duration_seconds"] is None and run["started_at"] and run["ended_at"]:
            run["duration_seconds"] = (run["ended_at"] - run["started_at"]).total_seconds()

    if inst["duration_seconds"] is None and inst["ended_at"] and inst["started_at"]:
        inst["duration_seconds"] = (inst["ended_at"] - inst["started_at"]).total_seconds()

    for task in tasks.values():
        report_fields(task, inst["workflow_name"])

    open_tasks = [t for t in tasks.values() if t["status"] == TaskStatus.OPEN]
    if not terminal and inst["status"] != Status.PAUSED:
        running = [r for r in steps if r["status"] == StepStatus.RUNNING and r["started_at"]]
        if running:
            inst["current_step"] = max(running, key=lambda r: r["started_at"])["step_name"]
        elif open_tasks:
            inst["current_step"] = open_tasks[-1]["step_name"]
        elif last_step:
            inst["current_step"] = last_step
        if open_tasks:
            inst["status"] = Status.WAITING
    elif not inst["current_step"]:
        inst["current_step"] = last_step

    return Fold(instance=inst, steps=steps, tasks=tasks, carry=carry)


def fold_instance(instance_id: uuid.UUID, events: Iterable[EventRow]) -> Fold:
    """Fold one instance's events, in (timestamp, type rank, event id) order, into rows."""
    state = FoldProgress.empty(instance_id)
    _fold_into(state, sorted(events, key=_sort_key))
    return _finish(state)


def fold_more(state: FoldProgress, events: Iterable[EventRow]) -> Fold:
    """Continue a fold with events that all sort after those it has folded.

    ``fold_more(resume(...), new)`` equals ``fold_instance(id, old + new)`` because the fold
    is a left fold over the events in sort-key order and ``state`` is exactly its value
    after ``old``; ``tests/core/test_incremental_fold.py`` checks it on generated histories.
    """
    ordered = sorted(events, key=_sort_key)
    if ordered and state.last_key is not None and not ordered[0].sort_key > state.last_key:
        raise ValueError("fold_more: an event sorts before the last one folded")
    _fold_into(state, ordered)
    return _finish(state)
