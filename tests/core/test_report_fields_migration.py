"""Migration 0010 fills the tasks' report fields (workflow name, cycle seconds) of rows
written before the fold kept them, with exactly the values the fold writes now."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from tests.support import events as b
from workflows import fold
from workflows.models import HumanTask
from workflows.store import refold

pytestmark = pytest.mark.django_db

migration = importlib.import_module("workflows.migrations.0010_task_report_fields")


class _Editor:
    connection = connection


def _history() -> list[dict[str, Any]]:
    one, two, three, four = (b.new_id() for _ in range(4))
    tasks = [b.new_id() for _ in range(6)]
    return [
        # completed, to the microsecond; reassigned first
        b.workflow_started(one, 0, workflow_name="expense-report"),
        b.human_task_created(one, 1, task_id=tasks[0], step_name="approve", assignee="alice"),
        b.human_task_reassigned(one, 2, task_id=tasks[0], step_name="approve", to_assignee="bob"),
        b.human_task_completed(
            one, b.at(31) + timedelta(microseconds=123457), task_id=tasks[0], step_name="approve"
        ),
        # still open; and one canceled with its workflow
        b.workflow_started(two, 0, workflow_name="invoice"),
        b.human_task_created(two, 5, task_id=tasks[1], step_name="check"),
        b.workflow_started(three, 0, workflow_name="invoice"),
        b.human_task_created(three, 5, task_id=tasks[2], step_name="check"),
        b.workflow_canceled(three, 9),
        # the workflow's start arrives after its task: the name is known only then
        b.human_task_created(four, 1, task_id=tasks[3], step_name="review"),
        b.human_task_completed(four, 3, task_id=tasks[3], step_name="review"),
        b.workflow_started(four, 4, workflow_name="late-start"),
        # no WorkflowStarted at all: no name
        b.human_task_created(b.new_id(), 1, task_id=tasks[4], step_name="orphan"),
        # completed "before" it was created (clocks disagree): a negative cycle, as before
        b.human_task_completed(one, 50, task_id=tasks[5], step_name="sign"),
        b.human_task_created(one, 60, task_id=tasks[5], step_name="sign"),
    ]


def _fields() -> dict[Any, tuple[str, float | None]]:
    return {
        t: (name, cycle)
        for t, name, cycle in HumanTask.objects.values_list(
            "task_id", "workflow_name", "cycle_seconds"
        )
    }


def test_the_backfill_writes_what_the_fold_writes(monkeypatch) -> None:
    b.ingest(_history())
    folded = _fields()
    assert sorted(folded.values(), key=repr) == sorted(
        [
            ("expense-report", 30 * 60 + 0.123457),
            ("expense-report", -600.0),
            ("invoice", None),
            ("invoice", None),
            ("late-start", 120.0),
            ("", None),
        ],
        key=repr,
    )
    # the rows as they were before migration 0010: the columns at their defaults
    HumanTask.objects.update(workflow_name="", cycle_seconds=None)
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches, one of them short

    migration.backfill(apps, _Editor())

    assert _fields() == folded
    # what the next ingest folds agrees with the filled rows: nothing to write
    instance_ids = set(HumanTask.objects.values_list("instance_id", flat=True))
    assert refold(instance_ids).tasks == []


def test_the_migration_and_the_fold_compute_the_cycle_alike() -> None:
    created = b.at(0)
    for done in (b.at(1), b.at(0) + timedelta(microseconds=1), b.at(-3), b.at(10**5)):
        task = {**fold.task_defaults(uuid.uuid4(), "s"), "status": "completed"}
        task.update(created_at=created, completed_at=done)
        assert migration.cycle_seconds("completed", created, done) == fold.cycle_seconds(task)
    assert migration.cycle_seconds("open", created, None) is None
    assert migration.cycle_seconds("canceled", created, b.at(2)) is None
    assert migration.cycle_seconds("completed", None, b.at(2)) is None
