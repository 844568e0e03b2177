"""The fold's store: load an instance's events, fold them, write the rows that differ.

``refold`` is the only writer of projection rows. It reports what changed (``Changes``) so
the live layer can tell the right pages. Rows are read and written with ``fastsql``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from workflows import fastsql, search
from workflows.assignees import resolve_assignees
from workflows.fold import (
    EventRow,
    Fold,
    FoldProgress,
    fold_instance,
    fold_more,
    instance_defaults,
    resume,
    step_defaults,
    task_defaults,
)
from workflows.models import Event, FoldState, HumanTask, StepRun, WorkflowInstance

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


_INSTANCE_KEYS = list(instance_defaults(uuid.UUID(int=0)))  # instance_id first
_STEP_KEYS = list(step_defaults("", 1))
_TASK_KEYS = list(task_defaults(uuid.UUID(int=0), ""))  # task_id first
_TASK_ROW = [*_TASK_KEYS, "instance_id", "assignee_user_id", "assignee_group_id"]
_TASK_ROW += ["completed_by_user_id"]

_EVENTS = fastsql.table_of(
    Event, "instance_id", "seq", "event_id", "type", "timestamp", "payload", "source"
)
_EVENT_COUNTS = fastsql.table_of(Event, "instance_id", "seq")
_INSTANCES_READ = fastsql.table_of(WorkflowInstance, *_INSTANCE_KEYS)
_INSTANCES_WRITE = fastsql.table_of(WorkflowInstance, *_INSTANCE_KEYS, "updated_at")
_FOLD_STATES = fastsql.table_of(FoldState, "instance_id", "state")
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
    plus its ``FoldProgress`` row) instead of reloading its whole history; the
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
            state = FoldProgress.empty(iid)  # every event of this instance is new
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
    _write_search(folds, instances, task_rows)
    return changes


def _all_after(events: Sequence[EventRow] | None, key: tuple[datetime, int, str]) -> bool:
    return bool(events) and all(e.sort_key > key for e in events)  # type: ignore[union-attr]


def _stored_state(
    instance: tuple[Any, ...],
    carry: Any,
    steps: list[tuple[Any, ...]],
    tasks: list[tuple[Any, ...]],
) -> FoldProgress | None:
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


_INSTANCE_TEXT_AT = [_INSTANCE_KEYS.index(k) for k in ("workflow_name", "initial_data")]
_TASK_TEXT_KEYS = ("step_name", "title", "description")
_TASK_TEXT_AT = [_TASK_ROW.index(k) for k in _TASK_TEXT_KEYS]


def _write_search(
    folds: dict[uuid.UUID, Fold],
    existing: dict[uuid.UUID, tuple[Any, ...]],
    existing_tasks: dict[uuid.UUID, list[tuple[Any, ...]]],
) -> None:
    """Write the search documents (``workflows.search``) whose text changed: an instance's
    when its workflow name or initial data did (and then each of its tasks'), a task's when
    it is new or its step name, title or description changed. Status, assignee and the
    rest are not searched, so completing or reassigning a task writes nothing here."""
    instance_docs: list[tuple[uuid.UUID, str]] = []
    task_docs: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    for iid, fold in folds.items():
        inst = fold.instance
        before = existing.get(iid)
        new_text = before is None or [before[i] for i in _INSTANCE_TEXT_AT] != [
            inst["workflow_name"],
            inst["initial_data"],
        ]
        had = {r[0]: [r[i] for i in _TASK_TEXT_AT] for r in existing_tasks.get(iid, ())}
        changed = [
            (task_id, t)
            for task_id, t in fold.tasks.items()
            if new_text or had.get(task_id) != [t[k] for k in _TASK_TEXT_KEYS]
        ]
        if not new_text and not changed:
            continue
        text = search.instance_text(inst["workflow_name"], inst["initial_data"])
        if new_text:
            instance_docs.append((iid, text))
        task_docs.extend(
            (task_id, iid, search.task_body(t["step_name"], t["title"], t["description"], text))
            for task_id, t in changed
        )
    search.write(instance_docs, task_docs)


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
