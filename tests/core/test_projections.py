"""What each event does to the projections (WorkflowInstance, StepRun, HumanTask), and the
order rules of docs/architecture.md: the fold of a set of events does not depend on arrival
order."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from tests.support import events as f
from workflows.models import HumanTask, StepRun, WorkflowInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def iid() -> str:
    return f.new_id()


@pytest.fixture
def tid() -> str:
    return f.new_id()


def instance(iid: str) -> WorkflowInstance:
    return WorkflowInstance.objects.get(instance_id=iid)


def task(tid: str) -> HumanTask:
    return HumanTask.objects.select_related("assignee_user", "assignee_group").get(task_id=tid)


def steps(iid: str) -> list[tuple[str, int, str]]:
    return [
        (s.step_name, s.attempt, s.status)
        for s in StepRun.objects.filter(instance_id=iid).order_by("step_name", "attempt")
    ]


def snapshot(iid: str) -> dict[str, Any]:
    """The projection of one instance, as one row per key (instance, steps, tasks)."""
    snap = f.snapshot(iid)
    (inst,) = snap["instances"]
    return {"instance": inst, "steps": snap["steps"], "tasks": snap["tasks"]}


# --- each event type ---------------------------------------------------------------------


def test_workflow_started(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(
                iid,
                0,
                workflow_name="expense_approval",
                workflow_version="2.1",
                initial_data={"amount": 120},
                user_id="carol",
                tenant_id="acme",
            )
        ]
    )
    row = instance(iid)
    assert row.workflow_name == "expense_approval"
    assert row.workflow_version == "2.1"
    assert row.initial_data == {"amount": 120}
    assert row.initiator == "carol"
    assert row.tenant_id == "acme"
    assert row.status == "running"
    assert row.started_at == f.at(0)
    assert row.ended_at is None
    assert row.event_count == 1


def test_workflow_completed(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.workflow_completed(
                iid, 90, status="COMPLETED", final_step="archive", duration_seconds=5400.5
            ),
        ]
    )
    row = instance(iid)
    assert row.status == "completed"
    assert row.engine_status == "completed"
    assert row.final_step == "archive"
    assert row.current_step == "archive"
    assert row.ended_at == f.at(90)
    assert row.duration_seconds == 5400.5


def test_workflow_completed_without_duration_is_measured(iid: str) -> None:
    f.ingest([f.workflow_started(iid, 0), f.workflow_completed(iid, 30)])
    assert instance(iid).duration_seconds == 1800.0


def test_status_strings_compare_case_insensitively() -> None:
    upper, lower = f.new_id(), f.new_id()
    cases = ((upper, "COMPLETED", "HUMAN", "SUCCEEDED"), (lower, "completed", "human", "succeeded"))
    for iid, status, step_type, step_status in cases:
        f.ingest(
            [
                f.workflow_started(iid, 0),
                f.step_started(iid, 1, step_type=step_type),
                f.step_completed(iid, 2, status=step_status),
                f.workflow_completed(iid, 3, status=status),
            ]
        )
    a, b = snapshot(upper), snapshot(lower)
    for snap in (a, b):
        del snap["instance"]["instance_id"]
        for s in snap["steps"]:
            del s["instance_id"]
    assert a == b
    assert a["instance"]["status"] == "completed"
    assert a["steps"][0]["step_type"] == "human"


def test_workflow_failed(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.workflow_failed(
                iid,
                10,
                error="db down",
                failed_step="validate",
                error_type="ConnectionError",
                stack_trace="Traceback (most recent call last)",
            ),
        ]
    )
    row = instance(iid)
    assert row.status == "failed"
    assert row.error == "db down"
    assert row.failed_step == "validate"
    assert row.current_step == "validate"
    assert row.error_type == "ConnectionError"
    assert row.stack_trace == "Traceback (most recent call last)"
    assert row.ended_at == f.at(10)
    assert row.duration_seconds == 600.0


def test_workflow_canceled(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.workflow_canceled(
                iid, 5, reason="request withdrawn", canceled_by="dave", current_step="review"
            ),
        ]
    )
    row = instance(iid)
    assert row.status == "canceled"
    assert row.cancel_reason == "request withdrawn"
    assert row.canceled_by == "dave"
    assert row.current_step == "review"
    assert row.ended_at == f.at(5)


def test_workflow_paused_and_resumed(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.workflow_paused(iid, 1, reason="awaiting data", paused_at_step="ingest"),
        ]
    )
    row = instance(iid)
    assert row.status == "paused"
    assert row.pause_reason == "awaiting data"
    assert row.current_step == "ingest"
    assert row.paused_at == f.at(1)

    f.ingest([f.workflow_resumed(iid, 2, resumed_by="erin", resuming_at_step="process")])
    row = instance(iid)
    assert row.status == "running"
    assert row.resumed_by == "erin"
    assert row.resumed_at == f.at(2)
    assert row.current_step == "process"
    assert row.pause_reason == "awaiting data"


def test_resumed_without_pause_changes_nothing(iid: str) -> None:
    f.ingest([f.workflow_started(iid, 0)])
    before = snapshot(iid)
    f.ingest([f.workflow_resumed(iid, 1, resumed_by="erin")])
    after = snapshot(iid)
    assert after["instance"].pop("event_count") == 2
    assert after["instance"].pop("last_event_at") == f.at(1)
    before["instance"].pop("event_count")
    before["instance"].pop("last_event_at")
    assert after == before


def test_paused_at_step_is_the_extra_field_paused_by_ignored(iid: str) -> None:
    result = f.ingest([f.workflow_paused(iid, 0, paused_by="x" * 500)])
    assert result.results[0].warnings == ("unknown field 'paused_by' kept but ignored",)
    assert instance(iid).paused_by == ""


def test_step_started(iid: str) -> None:
    f.ingest([f.step_started(iid, 1, "validate", step_type="MACHINE", input_data={"doc": 1})])
    run = StepRun.objects.get(instance_id=iid)
    assert (run.step_name, run.attempt, run.status) == ("validate", 1, "running")
    assert run.step_type == "machine"
    assert run.input_data == {"doc": 1}
    assert run.started_at == f.at(1)
    assert run.ended_at is None
    assert instance(iid).current_step == "validate"


def test_step_completed(iid: str) -> None:
    f.ingest(
        [
            f.step_started(iid, 1, "validate"),
            f.step_completed(
                iid,
                3,
                "validate",
                status="SUCCEEDED",
                result={"valid": True},
                output_data={"score": 0.9},
                duration_seconds=1.5,
            ),
            f.step_started(iid, 4, "store"),
            f.step_completed(iid, 6, "store", result="ok"),
        ]
    )
    validate, store = StepRun.objects.filter(instance_id=iid).order_by("started_at")
    assert validate.status == "completed"
    assert validate.engine_status == "succeeded"
    assert validate.result == {"valid": True}
    assert validate.output_data == {"score": 0.9}
    assert validate.duration_seconds == 1.5
    assert validate.ended_at == f.at(3)
    assert store.result == "ok"
    assert store.duration_seconds == 120.0  # measured when not given


def test_step_failed(iid: str) -> None:
    f.ingest(
        [
            f.step_started(iid, 1, "api_call"),
            f.step_failed(
                iid, 2, "api_call", error="timeout", error_type="TimeoutError", retry_count=3
            ),
        ]
    )
    run = StepRun.objects.get(instance_id=iid)
    assert run.status == "failed"
    assert run.error == "timeout"
    assert run.error_type == "TimeoutError"
    assert run.retry_count == 3
    assert run.duration_seconds == 60.0


def test_step_skipped_without_start(iid: str) -> None:
    f.ingest([f.workflow_started(iid, 0), f.step_skipped(iid, 1, "notify", reason="disabled")])
    run = StepRun.objects.get(instance_id=iid)
    assert run.status == "skipped"
    assert run.skip_reason == "disabled"
    assert run.started_at is None
    assert run.ended_at == f.at(1)
    assert run.duration_seconds is None


def test_human_task_created(iid: str, tid: str) -> None:
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.human_task_created(
                iid,
                1,
                tid,
                step_name="manager_approval",
                assignee="nobody-known",
                title="Approve expense",
                description="Report for project X",
                due_at="2026-11-26T17:00:00",
                form_schema=schema,
                priority=2,
            ),
        ]
    )
    row = task(tid)
    assert row.instance_id == uuid.UUID(iid)
    assert row.step_name == "manager_approval"
    assert row.title == "Approve expense"
    assert row.description == "Report for project X"
    assert row.assignee == "nobody-known"
    assert row.due_at == f.at(0).replace(day=26, hour=17)
    assert row.form_schema == schema
    assert row.priority == 2
    assert row.status == "open"
    assert row.created_at == f.at(1)
    assert instance(iid).status == "waiting"
    assert instance(iid).current_step == "manager_approval"


def test_human_task_completed(iid: str, tid: str) -> None:
    alice = User.objects.create_user("alice")
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.human_task_created(iid, 1, tid),
            f.human_task_completed(
                iid, 5, tid, completed_by="alice", form_data={"approved": True}, comment="fine"
            ),
        ]
    )
    row = task(tid)
    assert row.status == "completed"
    assert row.completed_at == f.at(5)
    assert row.closed_at == f.at(5)
    assert row.completed_by == "alice"
    assert row.completed_by_user == alice
    assert row.form_data == {"approved": True}
    assert row.comment == "fine"
    assert instance(iid).status == "running"


def test_human_task_reassigned(iid: str, tid: str) -> None:
    User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    f.ingest(
        [
            f.human_task_created(iid, 1, tid, assignee="alice"),
            f.human_task_reassigned(
                iid,
                2,
                tid,
                from_assignee="alice",
                to_assignee="bob",
                reassigned_by="admin",
                reason="vacation",
            ),
        ]
    )
    row = task(tid)
    assert row.assignee == "bob"
    assert row.assignee_user == bob
    assert row.previous_assignee == "alice"
    assert row.last_reassigned_by == "admin"
    assert row.last_reassigned_at == f.at(2)
    assert row.reassignment_count == 1
    assert row.status == "open"


def test_every_contract_field_is_shown_by_the_api(api_client: Client) -> None:
    """Each field of each of the 13 types appears in the read API's projection JSON."""
    main, failed, canceled = f.new_id(), f.new_id(), f.new_id()
    tid = f.new_id()
    f.ingest(
        [
            f.workflow_started(
                main,
                0,
                workflow_name="wf-name",
                workflow_version="wf-ver",
                initial_data={"init": 1},
                user_id="wf-user",
                tenant_id="wf-tenant",
            ),
            f.workflow_paused(main, 1, reason="pause-reason", paused_at_step="pause-step"),
            f.workflow_resumed(main, 2, resumed_by="resumer", resuming_at_step="resume-step"),
            f.step_started(main, 3, "s1", step_type="S-TYPE", input_data={"in": 1}),
            f.step_completed(
                main,
                4,
                "s1",
                status="S-STATUS",
                result=["res"],
                output_data={"out": 1},
                duration_seconds=7.25,
            ),
            f.step_failed(main, 5, "s2", error="s-err", error_type="s-errtype", retry_count=4),
            f.step_skipped(main, 6, "s3", reason="skip-reason"),
            f.human_task_created(
                main,
                7,
                tid,
                step_name="t-step",
                assignee="t-assignee",
                title="t-title",
                description="t-desc",
                due_at="2026-12-24T12:00:00Z",
                form_schema={"type": "object"},
                priority=9,
            ),
            f.human_task_reassigned(
                main,
                8,
                tid,
                step_name="t-step",
                from_assignee="t-from",
                to_assignee="t-to",
                reassigned_by="t-by",
                reason="t-reason",
            ),
            f.human_task_completed(
                main,
                9,
                tid,
                step_name="t-step",
                completed_by="t-done-by",
                form_data={"fd": 1},
                comment="t-comment",
            ),
            f.workflow_completed(
                main, 10, status="WF-STATUS", final_step="final-step", duration_seconds=601.0
            ),
            f.workflow_failed(
                failed,
                0,
                error="wf-err",
                failed_step="wf-fstep",
                error_type="wf-et",
                stack_trace="st",
            ),
            f.workflow_canceled(
                canceled, 0, reason="c-reason", canceled_by="c-by", current_step="c-step"
            ),
        ]
    )
    body = api_client.get(f"/api/instances/{main}").json()
    assert body["workflow_name"] == "wf-name"
    assert body["workflow_version"] == "wf-ver"
    assert body["initial_data"] == {"init": 1}
    assert body["initiator"] == "wf-user"
    assert body["tenant_id"] == "wf-tenant"
    assert body["pause_reason"] == "pause-reason"
    assert body["paused_at"].startswith("2026-11-25T09:01")
    assert body["resumed_by"] == "resumer"
    assert body["resumed_at"].startswith("2026-11-25T09:02")
    assert body["status"] == "completed"
    assert body["engine_status"] == "wf-status"
    assert body["final_step"] == "final-step"
    assert body["current_step"] == "final-step"
    assert body["duration_seconds"] == 601.0
    by_step = {s["step_name"]: s for s in body["steps"]}
    assert by_step["s1"]["step_type"] == "s-type"
    assert by_step["s1"]["input_data"] == {"in": 1}
    assert by_step["s1"]["engine_status"] == "s-status"
    assert by_step["s1"]["result"] == ["res"]
    assert by_step["s1"]["output_data"] == {"out": 1}
    assert by_step["s1"]["duration_seconds"] == 7.25
    assert by_step["s2"]["status"] == "failed"
    assert (by_step["s2"]["error"], by_step["s2"]["error_type"]) == ("s-err", "s-errtype")
    assert by_step["s2"]["retry_count"] == 4
    assert by_step["s3"]["skip_reason"] == "skip-reason"
    (t,) = body["tasks"]
    assert t["task_id"] == tid
    assert t["instance_id"] == main
    assert t["step_name"] == "t-step"
    assert (t["title"], t["description"]) == ("t-title", "t-desc")
    assert t["due_at"].startswith("2026-12-24T12:00:00")
    assert t["form_schema"] == {"type": "object"}
    assert t["priority"] == 9
    assert t["assignee"] == "t-to"
    assert t["previous_assignee"] == "t-from"
    assert t["last_reassigned_by"] == "t-by"
    assert t["reassignment_count"] == 1
    assert t["status"] == "completed"
    assert t["completed_by"] == "t-done-by"
    assert t["form_data"] == {"fd": 1}
    assert t["comment"] == "t-comment"
    # The reassignment reason has no column; the ordered timeline carries every payload.
    reassigned = [e for e in body["timeline"] if e["type"] == "HumanTaskReassigned"]
    assert reassigned[0]["payload"]["reason"] == "t-reason"
    assert len(body["timeline"]) == 11

    body = api_client.get(f"/api/instances/{failed}").json()
    assert body["status"] == "failed"
    assert (body["error"], body["failed_step"]) == ("wf-err", "wf-fstep")
    assert (body["error_type"], body["stack_trace"]) == ("wf-et", "st")
    body = api_client.get(f"/api/instances/{canceled}").json()
    assert body["status"] == "canceled"
    assert (body["cancel_reason"], body["canceled_by"]) == ("c-reason", "c-by")
    assert body["current_step"] == "c-step"


# --- order rules -------------------------------------------------------------------------


def test_task_completed_arriving_before_created(iid: str, tid: str) -> None:
    created = f.human_task_created(iid, 1, tid, title="Review", priority=1)
    completed = f.human_task_completed(iid, 2, tid, completed_by="bob", comment="done")
    f.ingest([completed])
    early = task(tid)
    assert early.status == "completed"
    f.ingest([created])
    row = task(tid)
    assert (row.status, row.title, row.priority) == ("completed", "Review", 1)
    assert row.created_at == f.at(1)
    assert row.completed_at == f.at(2)
    assert row.comment == "done"

    other = f.new_id()
    f.ingest([{**created, "instance_id": other, "task_id": (t2 := f.new_id())}])
    f.ingest([{**completed, "instance_id": other, "task_id": t2}])
    in_order, reversed_ = snapshot(other)["tasks"][0], snapshot(iid)["tasks"][0]
    for row_ in (in_order, reversed_):
        row_.pop("task_id")
        row_.pop("instance_id")
    assert in_order == reversed_


def test_task_completed_with_an_earlier_timestamp_than_created(iid: str, tid: str) -> None:
    f.ingest(
        [
            f.human_task_completed(iid, 1, tid, completed_by="bob"),
            f.human_task_created(iid, 2, tid, title="Skewed clock"),
        ]
    )
    row = task(tid)
    assert (row.status, row.title, row.completed_by) == ("completed", "Skewed clock", "bob")
    assert instance(iid).status == "running"


def test_reassignment_before_creation_keeps_the_new_assignee(iid: str, tid: str) -> None:
    f.ingest(
        [
            f.human_task_reassigned(iid, 1, tid, from_assignee="alice", to_assignee="bob"),
            f.human_task_created(iid, 2, tid, assignee="alice"),
        ]
    )
    row = task(tid)
    assert row.assignee == "bob"
    assert row.reassignment_count == 1


@pytest.mark.parametrize(
    "terminal",
    [f.workflow_completed, f.workflow_failed, f.workflow_canceled],
    ids=lambda fn: fn.__name__,
)
def test_terminal_state_is_not_left_by_later_arriving_events(iid: str, terminal: Any) -> None:
    f.ingest([f.workflow_started(iid, 0), terminal(iid, 10)])
    status = instance(iid).status
    assert status in ("completed", "failed", "canceled")
    # Earlier timestamps, arriving late; and later timestamps, too.
    f.ingest(
        [
            f.step_started(iid, 5, "late"),
            f.workflow_paused(iid, 6, reason="late pause"),
            f.workflow_resumed(iid, 7),
            f.human_task_created(iid, 8),
            f.workflow_paused(iid, 11),
            f.workflow_resumed(iid, 12),
            f.step_started(iid, 13, "after"),
        ]
    )
    row = instance(iid)
    assert row.status == status
    assert row.ended_at == f.at(10)
    assert not HumanTask.objects.filter(instance_id=iid, status="open").exists()


def test_resumed_after_canceled_does_not_reopen(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.workflow_paused(iid, 1),
            f.workflow_canceled(iid, 2, reason="stop"),
        ]
    )
    f.ingest([f.workflow_resumed(iid, 3, resumed_by="erin")])
    row = instance(iid)
    assert row.status == "canceled"
    assert row.resumed_by == ""
    assert row.resumed_at is None


def test_first_terminal_event_wins(iid: str) -> None:
    f.ingest([f.workflow_failed(iid, 5, error="late failure")])
    f.ingest([f.workflow_completed(iid, 3)])
    row = instance(iid)
    assert row.status == "completed"
    assert row.error == ""
    assert row.ended_at == f.at(3)


@pytest.mark.parametrize(
    ("terminal", "reason"),
    [
        (f.workflow_completed, "workflow completed"),
        (f.workflow_failed, "workflow failed"),
        (f.workflow_canceled, "workflow canceled"),
    ],
)
def test_open_tasks_close_when_the_instance_ends(iid: str, terminal: Any, reason: str) -> None:
    done, open_, late = f.new_id(), f.new_id(), f.new_id()
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.human_task_created(iid, 1, done),
            f.human_task_completed(iid, 2, done),
            f.human_task_created(iid, 3, open_),
        ]
    )
    assert instance(iid).status == "waiting"
    f.ingest([terminal(iid, 10)])
    assert task(done).status == "completed"
    assert task(done).closed_at == f.at(2)
    closed = task(open_)
    assert closed.status == "canceled"
    assert closed.closed_at == f.at(10)
    assert closed.closed_reason == reason
    assert HumanTask.objects.open().filter(instance_id=iid).count() == 0
    # A task the engine announces after the end is closed at once.
    f.ingest([f.human_task_created(iid, 11, late)])
    assert task(late).status == "canceled"
    assert task(late).closed_at == f.at(11)


def test_instance_row_exists_without_workflow_started(api_client: Client, iid: str) -> None:
    f.ingest([f.step_started(iid, 1, "orphan")])
    row = instance(iid)
    assert row.workflow_name == ""
    assert row.display_name == "Unknown workflow"
    assert row.started_at is None
    assert row.first_event_at == f.at(1)
    assert row.status == "running"
    body = api_client.get(f"/api/instances/{iid}").json()
    assert body["workflow_name"] == ""
    assert body["current_step"] == "orphan"
    # WorkflowStarted arriving later fills it in.
    f.ingest([f.workflow_started(iid, 0, workflow_name="late_name")])
    assert instance(iid).workflow_name == "late_name"
    assert instance(iid).started_at == f.at(0)


def test_retries_make_one_step_run_per_attempt(iid: str) -> None:
    f.ingest(
        [
            f.step_started(iid, 0, "api_call"),
            f.step_failed(iid, 1, "api_call", retry_count=0),
            f.step_started(iid, 2, "api_call"),
            f.step_failed(iid, 3, "api_call", retry_count=1),
            f.step_started(iid, 4, "api_call"),
            f.step_completed(iid, 5, "api_call"),
        ]
    )
    runs = list(StepRun.objects.filter(instance_id=iid).order_by("attempt"))
    assert [(r.attempt, r.status, r.retry_count) for r in runs] == [
        (1, "failed", 0),
        (2, "failed", 1),
        (3, "completed", 0),
    ]
    assert [r.started_at for r in runs] == [f.at(0), f.at(2), f.at(4)]
    assert [r.ended_at for r in runs] == [f.at(1), f.at(3), f.at(5)]


def test_skipped_steps_among_others(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.step_started(iid, 1, "a"),
            f.step_completed(iid, 2, "a"),
            f.step_skipped(iid, 3, "b", reason="not needed"),
            f.step_started(iid, 4, "c"),
        ]
    )
    assert steps(iid) == [("a", 1, "completed"), ("b", 1, "skipped"), ("c", 1, "running")]
    assert instance(iid).current_step == "c"


def test_parallel_steps(iid: str) -> None:
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.step_started(iid, 1, "check_budget"),
            f.step_started(iid, 1, "check_policy"),
            f.step_started(iid, 2, "notify"),
            f.step_completed(iid, 3, "check_policy"),
        ]
    )
    assert steps(iid) == [
        ("check_budget", 1, "running"),
        ("check_policy", 1, "completed"),
        ("notify", 1, "running"),
    ]
    assert instance(iid).current_step == "notify"
    f.ingest([f.step_failed(iid, 4, "check_budget"), f.step_completed(iid, 4, "notify")])
    assert steps(iid) == [
        ("check_budget", 1, "failed"),
        ("check_policy", 1, "completed"),
        ("notify", 1, "completed"),
    ]


def test_the_same_instant_folds_causes_before_effects(iid: str, tid: str) -> None:
    events = [
        f.workflow_started(iid, 0),
        f.step_started(iid, 0, "approve", step_type="HUMAN"),
        f.human_task_created(iid, 0, tid),
        f.human_task_completed(iid, 0, tid),
        f.step_completed(iid, 0, "approve"),
        f.workflow_completed(iid, 0),
    ]
    random.Random(4).shuffle(events)
    f.ingest(events)
    assert instance(iid).status == "completed"
    assert task(tid).status == "completed"
    assert steps(iid) == [("approve", 1, "completed")]


# --- assignee resolution -----------------------------------------------------------------


def test_assignee_resolution(iid: str) -> None:
    alice = User.objects.create_user("alice")
    managers = Group.objects.create(name="managers")
    # A user and a group with the same name: the bare name is the user, a prefix decides.
    same_user = User.objects.create_user("finance")
    same_group = Group.objects.create(name="finance")
    User.objects.create_user("gone", is_active=False)
    cases = {
        "alice": (alice, None),
        "managers": (None, managers),
        "finance": (same_user, None),
        "user:finance": (same_user, None),
        "group:finance": (None, same_group),
        "group:alice": (None, None),
        "user:managers": (None, None),
        "nobody": (None, None),
        "gone": (None, None),
        "": (None, None),
    }
    ids = {raw: f.new_id() for raw in cases}
    f.ingest([f.human_task_created(iid, 1, ids[raw], assignee=raw) for raw in cases])
    for raw, (user, group) in cases.items():
        row = task(ids[raw])
        assert row.assignee == raw, raw
        assert (row.assignee_user, row.assignee_group) == (user, group), raw
    unrouted = set(HumanTask.objects.unrouted().values_list("assignee", flat=True))
    assert unrouted == {"group:alice", "user:managers", "nobody", "gone", ""}


def test_reassignment_moves_the_task_between_user_and_group(iid: str, tid: str) -> None:
    alice = User.objects.create_user("alice")
    team = Group.objects.create(name="team")
    f.ingest([f.human_task_created(iid, 1, tid, assignee="alice")])
    assert task(tid).assignee_user == alice
    result = f.ingest([f.human_task_reassigned(iid, 2, tid, to_assignee="group:team")])
    row = task(tid)
    assert (row.assignee_user, row.assignee_group) == (None, team)
    (change,) = result.changes.tasks
    assert change.before == ("open", alice.id, None)
    assert change.after == ("open", None, team.id)


def test_ingest_reports_what_changed(iid: str, tid: str) -> None:
    result = f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid)])
    assert result.changes.instances == {uuid.UUID(iid)}
    assert [c.task_id for c in result.changes.tasks] == [uuid.UUID(tid)]
    assert result.changes.tasks[0].before is None
    # A duplicate delivery changes nothing and reports nothing.
    again = f.ingest([f.human_task_created(iid, 1, tid)])
    assert again.changes.instances == set()
    assert again.changes.tasks == []


def test_timestamps_keep_microseconds(iid: str) -> None:
    ts = f.at(0) + timedelta(microseconds=123456)
    f.ingest([f.workflow_started(iid, ts)])
    assert instance(iid).started_at == ts


@pytest.mark.django_db
def test_the_reason_of_the_last_reassignment_is_kept_and_shown_by_the_api(api_client) -> None:
    iid, tid = f.new_id(), f.new_id()
    f.ingest(
        [
            f.human_task_created(iid, 0, task_id=tid, assignee="alice"),
            f.human_task_reassigned(iid, 1, task_id=tid, to_assignee="bob", reason="first"),
            f.human_task_reassigned(iid, 2, task_id=tid, to_assignee="carol", reason="on vacation"),
        ]
    )
    (task,) = api_client.get(f"/api/tasks?instance_id={iid}").json()["items"]
    assert task["last_reassign_reason"] == "on vacation"
    assert task["reassignment_count"] == 2
