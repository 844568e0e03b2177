"""Helpers for the management-command tests (tests/core and tests/demo)."""

from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command
from django.db.models import Model

from tests.support import events as f


def run(*args: Any, **options: Any) -> tuple[str, str]:
    """Call a command; return what it printed on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def snapshot() -> dict[str, Any]:
    """Every projection row by its natural key, without surrogate ids, write times and the
    version counters (which a rebuild may keep or not)."""
    from workflows.models import HumanTask, StepRun, WorkflowInstance

    def rows(model: type[Model], key: tuple[str, ...]) -> dict[Any, dict[str, Any]]:
        out = {}
        for row in model.objects.values():  # type: ignore[attr-defined]
            for volatile in ("id", "updated_at", "version"):
                row.pop(volatile, None)
            out[tuple(row[k] for k in key)] = row
        return out

    return {
        "instances": rows(WorkflowInstance, ("instance_id",)),
        "steps": rows(StepRun, ("instance_id", "step_name", "attempt")),
        "tasks": rows(HumanTask, ("task_id",)),
    }


def small_history() -> list[dict[str, Any]]:
    iid, task = f.new_id(), f.new_id()
    return [
        f.workflow_started(iid, 0),
        f.step_started(iid, 1, step_name="approve", step_type="HUMAN"),
        f.human_task_created(iid, 2, step_name="approve", task_id=task, assignee="alice"),
        f.human_task_completed(iid, 30, step_name="approve", task_id=task, completed_by="alice"),
        f.workflow_completed(iid, 31),
    ]
