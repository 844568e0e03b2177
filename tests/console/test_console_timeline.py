from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.support import events as b
from workflows.models import Event
from workflows.timeline import describe, format_duration, timeline_entries
from workflows.wire import parse_event

pytestmark = pytest.mark.django_db

IID = uuid.UUID("11111111-1111-4111-8111-111111111111")
TID = uuid.UUID("22222222-2222-4222-8222-222222222222")


def stored(obj: dict, source: str = "token:engine") -> Event:
    b.ingest([obj], source=source)
    return Event.objects.get(event_id=parse_event(obj).event_id)  # given or derived


CASES = [
    (
        b.started(IID, 0, user_id="alice", tenant_id=None),
        "token:engine",
        "Workflow Expense approval 1.0.0 started by alice",
        "alice",
        "workflow",
    ),
    (
        b.completed(IID, 60, final_step="approve", duration_seconds=3600),
        "token:engine",
        "Workflow completed at step 'Approve' in 1 h",
        "engine",
        "workflow",
    ),
    (
        b.failed(
            IID,
            60,
            error="Database connection failed",
            failed_step="validate",
            error_type="ConnectionError",
            stack_trace="Traceback...",
        ),
        "token:engine",
        "Workflow failed at step 'Validate': ConnectionError: Database connection failed",
        "engine",
        "workflow",
    ),
    (
        b.ev(
            "WorkflowCanceled",
            IID,
            5,
            reason="Request withdrawn",
            canceled_by="admin",
            current_step="review",
        ),
        "dashboard:admin",
        "admin canceled the workflow at step 'Review': Request withdrawn",
        "admin",
        "workflow",
    ),
    (
        b.ev("WorkflowPaused", IID, 5, reason="Awaiting data", paused_at_step="ingest"),
        "dashboard:admin",
        "admin paused the workflow at step 'Ingest': Awaiting data",
        "admin",
        "workflow",
    ),
    (
        b.ev("WorkflowResumed", IID, 6, resumed_by="admin", resuming_at_step="ingest"),
        "dashboard:admin",
        "admin resumed the workflow at step 'Ingest'",
        "admin",
        "workflow",
    ),
    (
        b.step_started(IID, 1, "validate", step_type="MACHINE"),
        "token:engine",
        "Step 'Validate' started (automatic)",
        "engine",
        "step",
    ),
    (
        b.step_completed(IID, 2, "validate", duration_seconds=1.5),
        "token:engine",
        "Step 'Validate' completed in 1.5 s",
        "engine",
        "step",
    ),
    (
        b.step_failed(
            IID, 2, "validate", error="Connection timeout", error_type="TimeoutError", retry_count=3
        ),
        "token:engine",
        "Step 'Validate' failed after 3 retries: TimeoutError: Connection timeout",
        "engine",
        "step",
    ),
    (
        b.ev("StepSkipped", IID, 2, step_name="notify", reason="Notifications off"),
        "token:engine",
        "Step 'Notify' skipped: Notifications off",
        "engine",
        "step",
    ),
    (
        b.task_created(
            IID,
            3,
            "approve",
            TID,
            assignee="finance",
            title="Approve expense report",
            due_at="2026-01-06T17:00:00Z",
        ),
        "token:engine",
        "Task 'Approve expense report' created for finance, due 2026-01-06 17:00 UTC",
        "engine",
        "task",
    ),
    (
        b.task_completed(IID, 4, "approve", TID, "bob", comment="Approved for payment"),
        "dashboard:bob",
        "bob completed 'Approve expense report': Approved for payment",
        "bob",
        "task",
    ),
    (
        b.task_reassigned(
            IID, 4, "approve", TID, to_assignee="carol", reassigned_by="bob", reason="on vacation"
        ),
        "dashboard:bob",
        "bob reassigned 'Approve expense report' to carol: on vacation",
        "bob",
        "task",
    ),
]


@pytest.mark.parametrize(
    ("obj", "source", "sentence", "actor", "kind"), CASES, ids=[c[0]["type"] for c in CASES]
)
def test_sentence_for_each_event_type(obj, source, sentence, actor, kind) -> None:
    event = stored(obj, source)
    entry = describe(event, {TID: "Approve expense report"})
    assert entry.sentence == sentence
    assert entry.actor == actor
    assert entry.kind == kind
    assert entry.event == event
    assert entry.timestamp == event.timestamp


def test_all_thirteen_types_are_covered() -> None:
    from workflows.events import EVENT_TYPES

    assert {c[0]["type"] for c in CASES} == set(EVENT_TYPES)


def test_dashboard_source_names_the_actor_even_without_payload_field() -> None:
    event = stored(b.ev("WorkflowPaused", IID, 5, reason="hold"), "dashboard:erin")
    assert describe(event).actor == "erin"
    assert describe(event).sentence == "erin paused the workflow: hold"


def test_title_falls_back_when_unknown_and_from_assignee_is_named() -> None:
    event = stored(
        b.task_reassigned(IID, 4, "approve", TID, from_assignee="alice", to_assignee="carol")
    )
    assert (
        describe(event).sentence == "Task the task of step 'Approve' reassigned from alice to carol"
    )
    assert describe(event).actor == "engine"


def test_timeline_entries_order_gaps_titles_and_kinds() -> None:
    objs = [
        b.task_completed(IID, 30, "approve", TID, "bob"),
        b.started(IID, 0, user_id="alice"),
        b.task_created(IID, 10, "approve", TID, assignee="bob", title="Approve it"),
        b.step_started(IID, 10, "approve", step_type="HUMAN"),
    ]
    b.ingest(objs)
    entries = timeline_entries(Event.objects.filter(instance_id=IID))
    assert [e.type for e in entries] == [
        "WorkflowStarted",
        "StepStarted",
        "HumanTaskCreated",
        "HumanTaskCompleted",
    ]
    assert [e.since_previous for e in entries] == [
        None,
        timedelta(minutes=10),
        timedelta(0),
        timedelta(minutes=20),
    ]
    # The title comes from the HumanTaskCreated among the events.
    assert entries[-1].sentence == "bob completed 'Approve it'"
    assert entries[-1].since_previous_text == "20 min"
    tasks_only = timeline_entries(Event.objects.filter(instance_id=IID), kinds=["task"])
    assert [e.type for e in tasks_only] == ["HumanTaskCreated", "HumanTaskCompleted"]
    assert tasks_only[1].since_previous == timedelta(minutes=20)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0.4 s"), (12, "12 s"), (185, "3 min 5 s"), (7800, "2 h 10 min"), (93600, "1 d 2 h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
