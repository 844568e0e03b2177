"""Projections as folds: the rows of an instance are a pure function of its set of events.

``fold_instance`` is that function (no database). ``refold`` loads the events of some
instances, folds them and writes only the rows that differ, reporting what changed so the
live layer can tell the right pages.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Model

from inbox.events import TYPE_RANK, parse_datetime
from inbox.models import Event, HumanTask
from workflows_ui.models import StepRun, WorkflowInstance

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
        # Ties broken by content, not arrival, so every permutation folds the same.
        return (self.timestamp, TYPE_RANK[self.type], str(self.event_id))


@dataclass
class Fold:
    instance: dict[str, Any]
    steps: list[dict[str, Any]]
    tasks: dict[uuid.UUID, dict[str, Any]]


def _instance_defaults(instance_id: uuid.UUID) -> dict[str, Any]:
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


def _task_defaults(task_id: uuid.UUID, step_name: str) -> dict[str, Any]:
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
    }


def _step_defaults(step_name: str, attempt: int) -> dict[str, Any]:
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


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _actor_from_source(source: str) -> str:
    return source.split(":", 1)[1] if source.startswith("dashboard:") else ""


def fold_instance(instance_id: uuid.UUID, events: Iterable[EventRow]) -> Fold:
    """Fold one instance's events, in (timestamp, type rank, event id) order, into rows."""
    inst = _instance_defaults(instance_id)
    steps: list[dict[str, Any]] = []
    latest_run: dict[str, dict[str, Any]] = {}
    tasks: dict[uuid.UUID, dict[str, Any]] = {}
    terminal = False
    last_step = ""

    def run_to_close(step_name: str) -> dict[str, Any]:
        run = latest_run.get(step_name)
        if run is None or run["ended_at"] is not None or run["status"] != StepStatus.RUNNING:
            run = _step_defaults(step_name, (run["attempt"] + 1) if run else 1)
            steps.append(run)
            latest_run[step_name] = run
        return run

    def close_open_tasks(at: datetime, reason: str) -> None:
        for task in tasks.values():
            if task["status"] == TaskStatus.OPEN:
                task["status"] = TaskStatus.CANCELED
                task["closed_at"] = at
                task["closed_reason"] = reason

    for ev in sorted(events, key=lambda e: e.sort_key):
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
                    canceled_by=_s(p.get("canceled_by")) or _actor_from_source(ev.source),
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
                paused_by=_actor_from_source(ev.source),
                paused_at=ts,
            )
            if p.get("paused_at_step"):
                inst["current_step"] = p["paused_at_step"]
        elif t == "WorkflowResumed":
            if terminal or inst["status"] != Status.PAUSED:
                continue
            inst.update(
                status=Status.RUNNING,
                resumed_by=_s(p.get("resumed_by")) or _actor_from_source(ev.source),
                resumed_at=ts,
            )
            if p.get("resuming_at_step"):
                inst["current_step"] = p["resuming_at_step"]
        elif t == "StepStarted":
            run = latest_run.get(p["step_name"])
            if run is None or run["ended_at"] is not None or run["status"] != StepStatus.RUNNING:
                run = _step_defaults(p["step_name"], (run["attempt"] + 1) if run else 1)
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
            task = tasks.setdefault(task_id, _task_defaults(task_id, p["step_name"]))
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

    for run in steps:
        if run["duration_seconds"] is None and run["started_at"] and run["ended_at"]:
            run["duration_seconds"] = (run["ended_at"] - run["started_at"]).total_seconds()

    if inst["duration_seconds"] is None and inst["ended_at"] and inst["started_at"]:
        inst["duration_seconds"] = (inst["ended_at"] - inst["started_at"]).total_seconds()

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

    return Fold(instance=inst, steps=steps, tasks=tasks)


# --- writing folds -----------------------------------------------------------------------

TASK_AUDIENCE_FIELDS = ("status", "assignee_user_id", "assignee_group_id")


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A task whose row changed; ``before``/``after`` are (status, user id, group id)."""

    task_id: uuid.UUID
    instance_id: uuid.UUID
    before: tuple[str, int | None, int | None] | None
    after: tuple[str, int | None, int | None]


@dataclass
class Changes:
    instances: set[uuid.UUID] = field(default_factory=set)
    tasks: list[TaskChange] = field(default_factory=list)


def _split_assignee(raw: str) -> tuple[str | None, str]:
    """An explicit ``user:`` or ``group:`` prefix wins; otherwise either may match."""
    for prefix in ("user:", "group:"):
        if raw.lower().startswith(prefix):
            return prefix[:-1], raw[len(prefix) :].strip()
    return None, raw.strip()


def resolve_assignees(raws: Iterable[str]) -> dict[str, tuple[int | None, int | None]]:
    """Map raw assignee strings to (user id, group id); a username beats a group name."""
    parsed = {raw: _split_assignee(raw) for raw in set(raws) if raw}
    names = {name for _, name in parsed.values() if name}
    users = dict(
        get_user_model()
        .objects.filter(username__in=names, is_active=True)
        .values_list("username", "id")
    )
    groups = dict(Group.objects.filter(name__in=names).values_list("name", "id"))
    resolved: dict[str, tuple[int | None, int | None]] = {}
    for raw, (kind, name) in parsed.items():
        if kind != "group" and name in users:
            resolved[raw] = (users[name], None)
        elif kind != "user" and name in groups:
            resolved[raw] = (None, groups[name])
        else:
            resolved[raw] = (None, None)
    return resolved


def load_events(instance_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[EventRow]]:
    by_instance: dict[uuid.UUID, list[EventRow]] = defaultdict(list)
    rows = Event.objects.filter(instance_id__in=instance_ids).values_list(
        "instance_id", "seq", "event_id", "type", "timestamp", "payload", "source"
    )
    for instance_id, seq, event_id, type_, ts, payload, source in rows.iterator(chunk_size=2000):
        by_instance[instance_id].append(EventRow(seq, event_id, type_, ts, payload, source))
    return by_instance


_INSTANCE_FIELDS = [f for f in _instance_defaults(uuid.UUID(int=0)) if f != "instance_id"]
_TASK_FIELDS = [f for f in _task_defaults(uuid.UUID(int=0), "") if f != "task_id"] + [
    "assignee_user_id",
    "assignee_group_id",
    "completed_by_user_id",
    "instance_id",
]


def refold(instance_ids: Iterable[uuid.UUID]) -> Changes:
    """Re-fold these instances from the log and write the rows that differ."""
    ids = sorted(set(instance_ids))
    changes = Changes()
    if not ids:
        return changes
    folds = {iid: fold_instance(iid, evs) for iid, evs in load_events(ids).items()}

    existing = {i.instance_id: i for i in WorkflowInstance.objects.filter(instance_id__in=ids)}
    to_write = []
    for iid, fold in folds.items():
        row = existing.get(iid)
        if row is None or any(getattr(row, k) != v for k, v in fold.instance.items()):
            to_write.append(WorkflowInstance(**fold.instance))
            changes.instances.add(iid)
    _upsert(WorkflowInstance, to_write, "instance_id", _INSTANCE_FIELDS)

    _write_steps(folds, changes)
    _write_tasks(folds, changes)
    return changes


def _upsert(model: type[Model], rows: list[Any], unique: str, fields: list[str]) -> None:
    """Insert new rows and overwrite changed ones in one INSERT ... ON CONFLICT statement.

    Much cheaper than ``bulk_update``, whose CASE WHEN per field and row dominated ingest.
    """
    if rows:
        model._default_manager.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=[unique],
            update_fields=[*fields, "updated_at"],
        )


def _write_steps(folds: dict[uuid.UUID, Fold], changes: Changes) -> None:
    existing: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    step_keys = list(_step_defaults("", 1))
    for row in (
        StepRun.objects.filter(instance_id__in=list(folds))
        .order_by("id")
        .values("id", "instance_id", *step_keys)
    ):
        existing[row.pop("instance_id")].append(row)
    # Write only the runs that differ (usually the one step an event touched), keyed by
    # (step, attempt); rewriting every run of every touched instance dominated ingest.
    to_write: list[StepRun] = []
    gone: list[int] = []
    for iid, fold in folds.items():
        have = {(r["step_name"], r["attempt"]): r for r in existing.get(iid, [])}
        for run in fold.steps:
            row = have.pop((run["step_name"], run["attempt"]), None)
            if row is None or any(row[k] != v for k, v in run.items()):
                to_write.append(StepRun(instance_id=iid, **run))
                changes.instances.add(iid)
        if have:
            gone.extend(r["id"] for r in have.values())
            changes.instances.add(iid)
    if gone:
        StepRun.objects.filter(id__in=gone).delete()
    if to_write:
        StepRun.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=["instance", "step_name", "attempt"],
            update_fields=[k for k in step_keys if k not in ("step_name", "attempt")],
        )


def _write_tasks(folds: dict[uuid.UUID, Fold], changes: Changes) -> None:
    raws: set[str] = set()
    for fold in folds.values():
        for task in fold.tasks.values():
            raws.add(task["assignee"])
            if task["completed_by"]:
                raws.add("user:" + task["completed_by"])
    resolved = resolve_assignees(raws)
    existing = {t.task_id: t for t in HumanTask.objects.filter(instance_id__in=list(folds))}

    to_write = []
    for iid, fold in folds.items():
        for task_id, values in fold.tasks.items():
            user_id, group_id = resolved.get(values["assignee"], (None, None))
            completed_by_user_id = (
                resolved.get("user:" + values["completed_by"], (None, None))[0]
                if values["completed_by"]
                else None
            )
            full = {
                **values,
                "instance_id": iid,
                "assignee_user_id": user_id,
                "assignee_group_id": group_id,
                "completed_by_user_id": completed_by_user_id,
            }
            after = (values["status"], user_id, group_id)
            row = existing.get(task_id)
            if row is None:
                to_write.append(HumanTask(**full))
                changes.tasks.append(TaskChange(task_id, iid, None, after))
                continue
            if any(getattr(row, k) != v for k, v in full.items()):
                before = (row.status, row.assignee_user_id, row.assignee_group_id)
                to_write.append(HumanTask(**full))
                changes.tasks.append(TaskChange(task_id, iid, before, after))
    # Not ``version``: people's actions own it, and a refold must not undo their bump.
    _upsert(HumanTask, to_write, "task_id", _TASK_FIELDS)
    changes.instances.update(c.instance_id for c in changes.tasks)
