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
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from inbox import fastsql
from inbox.events import fold_order, parse_datetime
from inbox.models import Event, HumanTask, dashboard_actor
from inbox.models import FoldState as StoredFoldState
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
        return fold_order(self)


def _sort_key(event: EventRow) -> tuple[datetime, int, str]:
    return event.sort_key


@dataclass
class Fold:
    instance: dict[str, Any]
    steps: list[dict[str, Any]]
    tasks: dict[uuid.UUID, dict[str, Any]]
    # What a later fold needs beyond these rows to continue from here (FoldState.carry);
    # kept in WorkflowInstance.fold_state.
    carry: dict[str, Any] = field(default_factory=dict)


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


FOLD_STATE_VERSION = 1


@dataclass
class FoldState:
    """The fold's value between two events: what ``_fold_into`` reads and updates.

    After the last event, ``_finish`` derives a few instance fields (current step, waiting,
    duration) from it; everything else in the rows is this state as it is. So the state
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
    def empty(cls, instance_id: uuid.UUID) -> FoldState:
        return cls(_instance_defaults(instance_id), [], {}, {})

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
) -> FoldState | None:
    """The fold state whose rows and ``carry`` these are; None if they do not fit together.

    ``instance``, ``steps`` and ``tasks`` hold the fold's own fields only (as
    ``_instance_defaults``, ``_step_defaults``, ``_task_defaults``); they are copied.
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
    return FoldState(
        inst=inst,
        steps=runs,
        latest_run=latest_run,
        tasks={t: dict(tasks[t]) for t in task_ids},
        last_step=carry["last_step"],
        last_key=(datetime.fromisoformat(ts), rank, event_id),
    )


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _fold_into(state: FoldState, events: Iterable[EventRow]) -> None:
    """The fold's step: apply ``events``, already in sort-key order, to ``state``."""
    inst, steps, latest_run, tasks = state.inst, state.steps, state.latest_run, state.tasks
    terminal = inst["ended_at"] is not None
    last_step = state.last_step
    last: EventRow | None = None

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

    state.last_step = last_step
    if last is not None:
        state.last_key = last.sort_key


def _finish(state: FoldState) -> Fold:
    """The rows: the state with what is derived at the end. Consumes ``state``."""
    inst, steps, tasks, last_step = state.inst, state.steps, state.tasks, state.last_step
    terminal = inst["ended_at"] is not None
    carry = state.carry()
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

    return Fold(instance=inst, steps=steps, tasks=tasks, carry=carry)


def fold_instance(instance_id: uuid.UUID, events: Iterable[EventRow]) -> Fold:
    """Fold one instance's events, in (timestamp, type rank, event id) order, into rows."""
    state = FoldState.empty(instance_id)
    _fold_into(state, sorted(events, key=_sort_key))
    return _finish(state)


def fold_more(state: FoldState, events: Iterable[EventRow]) -> Fold:
    """Continue a fold with events that all sort after those it has folded.

    ``fold_more(resume(...), new)`` equals ``fold_instance(id, old + new)`` because the fold
    is a left fold over the events in sort-key order and ``state`` is exactly its value
    after ``old``; ``tests/test_incremental_fold.py`` checks it on generated histories.
    """
    ordered = sorted(events, key=_sort_key)
    if ordered and state.last_key is not None and not ordered[0].sort_key > state.last_key:
        raise ValueError("fold_more: an event sorts before the last one folded")
    _fold_into(state, ordered)
    return _finish(state)


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
    users = {
        username: pk
        for username, pk, active in fastsql.select_in(
            fastsql.table_of(get_user_model(), "username", "id", "is_active"), "username", names
        )
        if active
    }
    groups: dict[str, int] = dict(
        fastsql.select_in(fastsql.table_of(Group, "name", "id"), "name", names)
    )
    resolved: dict[str, tuple[int | None, int | None]] = {}
    for raw, (kind, name) in parsed.items():
        if kind != "group" and name in users:
            resolved[raw] = (users[name], None)
        elif kind != "user" and name in groups:
            resolved[raw] = (None, groups[name])
        else:
            resolved[raw] = (None, None)
    return resolved


_INSTANCE_KEYS = list(_instance_defaults(uuid.UUID(int=0)))  # instance_id first
_STEP_KEYS = list(_step_defaults("", 1))
_TASK_KEYS = list(_task_defaults(uuid.UUID(int=0), ""))  # task_id first
_TASK_ROW = [*_TASK_KEYS, "instance_id", "assignee_user_id", "assignee_group_id"]
_TASK_ROW += ["completed_by_user_id"]

_EVENTS = fastsql.table_of(
    Event, "instance_id", "seq", "event_id", "type", "timestamp", "payload", "source"
)
_EVENT_COUNTS = fastsql.table_of(Event, "instance_id", "seq")
_INSTANCES_READ = fastsql.table_of(WorkflowInstance, *_INSTANCE_KEYS)
_INSTANCES_WRITE = fastsql.table_of(WorkflowInstance, *_INSTANCE_KEYS, "updated_at")
_FOLD_STATES = fastsql.table_of(StoredFoldState, "instance_id", "state")
_STEPS_READ = fastsql.table_of(StepRun, "id", "instance_id", *_STEP_KEYS)
_STEPS_WRITE = fastsql.table_of(StepRun, "instance_id", *_STEP_KEYS)
_TASKS_READ = fastsql.table_of(HumanTask, *_TASK_ROW)
# ``version`` only for new rows: people's actions own it, a refold never undoes their bump.
_TASKS_WRITE = fastsql.table_of(HumanTask, *_TASK_ROW, "updated_at", "version")


def load_events(instance_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[EventRow]]:
    """Each instance's stored events in arrival order; instances in order of first arrival."""
    rows = fastsql.select_in(_EVENTS, "instance_id", instance_ids)
    rows.sort(key=lambda r: r[1])
    by_instance: dict[uuid.UUID, list[EventRow]] = defaultdict(list)
    for instance_id, seq, event_id, type_, ts, payload, source in rows:
        by_instance[instance_id].append(EventRow(seq, event_id, type_, ts, payload, source))
    return by_instance


def refold(
    instance_ids: Iterable[uuid.UUID],
    new_events: dict[uuid.UUID, list[EventRow]] | None = None,
) -> Changes:
    """Re-fold these instances and write the rows that differ.

    ``new_events``: events of some of these instances stored in this transaction (every
    one of them already in the log). When all of an instance's new events sort after the
    last one its stored state has folded, the fold continues from that state (its rows
    plus its ``FoldState`` row) instead of reloading its whole history; the
    result is the same by construction. Otherwise the instance is folded from the log.
    """
    ids = sorted(set(instance_ids))
    changes = Changes()
    if not ids:
        return changes
    new_events = new_events or {}
    instances = {row[0]: row for row in fastsql.select_in(_INSTANCES_READ, "instance_id", ids)}
    carries: dict[uuid.UUID, Any] = dict(fastsql.select_in(_FOLD_STATES, "instance_id", ids))
    step_rows: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for row in fastsql.select_in(_STEPS_READ, "instance_id", ids):
        step_rows[row[1]].append(row)
    task_rows: dict[uuid.UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for row in fastsql.select_in(_TASKS_READ, "instance_id", ids):
        task_rows[row[len(_TASK_KEYS)]].append(row)

    counts = fastsql.count_in(
        _EVENT_COUNTS, "instance_id", [i for i in ids if i in new_events], "seq"
    )
    folds: dict[uuid.UUID, Fold] = {}
    first_seq: dict[uuid.UUID, int] = {}
    from_log: list[uuid.UUID] = []
    for iid in ids:
        news = new_events.get(iid)
        count, first = counts.get(iid, (0, 0))
        state = None
        if news and iid not in instances and count == len(news):
            state = FoldState.empty(iid)  # every event of this instance is new
        elif news and iid in instances:
            state = _stored_state(instances[iid], carries.get(iid), step_rows[iid], task_rows[iid])
            if state is not None and count != state.inst["event_count"] + len(news):
                state = None  # the log has events the stored state has not folded
        if state is not None and (state.last_key is None or _all_after(news, state.last_key)):
            folds[iid] = fold_more(state, news)  # type: ignore[arg-type]
            first_seq[iid] = first
        else:
            from_log.append(iid)
    for iid, events in load_events(from_log).items():
        folds[iid] = fold_instance(iid, events)
        first_seq[iid] = events[0].seq
    # Instances in order of their first event's arrival, as a fold of the log visits them.
    folds = {iid: folds[iid] for iid in sorted(folds, key=first_seq.__getitem__)}

    _write_instances(folds, instances, carries, changes)
    _write_steps(folds, step_rows, changes)
    _write_tasks(folds, task_rows, changes)
    return changes


def _all_after(events: Sequence[EventRow] | None, key: tuple[datetime, int, str]) -> bool:
    return bool(events) and all(e.sort_key > key for e in events)  # type: ignore[union-attr]


def _stored_state(
    instance: tuple[Any, ...],
    carry: Any,
    steps: list[tuple[Any, ...]],
    tasks: list[tuple[Any, ...]],
) -> FoldState | None:
    """The fold state behind stored rows and their carry; None if there is none."""
    if carry is None:
        return None
    nk = len(_TASK_KEYS)
    return resume(
        dict(zip(_INSTANCE_KEYS, instance, strict=True)),
        {(r[2], r[3]): dict(zip(_STEP_KEYS, r[2:], strict=True)) for r in steps},
        {r[0]: dict(zip(_TASK_KEYS, r[:nk], strict=True)) for r in tasks},
        carry,
    )


def _write_instances(
    folds: dict[uuid.UUID, Fold],
    existing: dict[uuid.UUID, tuple[Any, ...]],
    carries: dict[uuid.UUID, Any],
    changes: Changes,
) -> None:
    now = timezone.now()
    to_write = []
    states = []
    for iid, fold in folds.items():
        values = tuple(fold.instance[k] for k in _INSTANCE_KEYS)
        if existing.get(iid) != values:
            to_write.append((*values, now))
            changes.instances.add(iid)
        if iid not in carries or carries[iid] != fold.carry:
            states.append((iid, fold.carry))
    fastsql.upsert(_INSTANCES_WRITE, to_write, ["instance_id"])
    fastsql.upsert(_FOLD_STATES, states, ["instance_id"])


def _write_steps(
    folds: dict[uuid.UUID, Fold],
    existing: dict[uuid.UUID, list[tuple[Any, ...]]],
    changes: Changes,
) -> None:
    # Write only the runs that differ (usually the one step an event touched), keyed by
    # (step, attempt); rewriting every run of every touched instance dominated ingest.
    to_write: list[tuple[Any, ...]] = []
    gone: list[int] = []
    for iid, fold in folds.items():
        have = {(r[2], r[3]): r for r in existing.get(iid, ())}
        for run in fold.steps:
            values = (iid, *(run[k] for k in _STEP_KEYS))
            row = have.pop((run["step_name"], run["attempt"]), None)
            if row is None or row[1:] != values:
                to_write.append(values)
                changes.instances.add(iid)
        if have:
            gone.extend(r[0] for r in have.values())
            changes.instances.add(iid)
    if gone:
        StepRun.objects.filter(id__in=gone).delete()
    fastsql.upsert(_STEPS_WRITE, to_write, ["instance_id", "step_name", "attempt"])


def _write_tasks(
    folds: dict[uuid.UUID, Fold],
    existing_rows: dict[uuid.UUID, list[tuple[Any, ...]]],
    changes: Changes,
) -> None:
    raws: set[str] = set()
    for fold in folds.values():
        for task in fold.tasks.values():
            raws.add(task["assignee"])
            if task["completed_by"]:
                raws.add("user:" + task["completed_by"])
    resolved = resolve_assignees(raws)
    existing = {r[0]: r for rows in existing_rows.values() for r in rows}
    status_at = _TASK_ROW.index("status")

    now = timezone.now()
    to_write = []
    for iid, fold in folds.items():
        for task_id, values in fold.tasks.items():
            user_id, group_id = resolved.get(values["assignee"], (None, None))
            completed_by_user_id = (
                resolved.get("user:" + values["completed_by"], (None, None))[0]
                if values["completed_by"]
                else None
            )
            full = (
                *(values[k] for k in _TASK_KEYS),
                iid,
                user_id,
                group_id,
                completed_by_user_id,
            )
            after = (values["status"], user_id, group_id)
            row = existing.get(task_id)
            if row is None:
                to_write.append((*full, now, 0))
                changes.tasks.append(TaskChange(task_id, iid, None, after))
            elif row != full:
                before = (row[status_at], row[-3], row[-2])
                to_write.append((*full, now, 0))
                changes.tasks.append(TaskChange(task_id, iid, before, after))
    fastsql.upsert(_TASKS_WRITE, to_write, ["task_id"], keep=["version"])
    changes.instances.update(c.instance_id for c in changes.tasks)
