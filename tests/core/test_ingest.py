"""The ingest service: dedupe, all-or-nothing batches, task ownership, record_action."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError

from tests.support import events as f
from workflows import ingest
from workflows.actions import record_action
from workflows.events import WorkflowCanceled
from workflows.ingest import IngestError, ingest_events
from workflows.models import Event, HumanTask, OutboxCommand, StepRun, WorkflowInstance
from workflows.wire import parse_event

pytestmark = pytest.mark.django_db(transaction=False)


def history(iid: str, tid: str) -> list[dict[str, Any]]:
    return [
        f.workflow_started(iid, 0),
        f.step_started(iid, 1, "approve", step_type="HUMAN"),
        f.human_task_created(iid, 2, tid, assignee="alice", form_schema={"type": "object"}),
        f.human_task_reassigned(iid, 3, tid, to_assignee="bob"),
    ]


def counts() -> tuple[int, int, int, int]:
    return (
        Event.objects.count(),
        WorkflowInstance.objects.count(),
        StepRun.objects.count(),
        HumanTask.objects.count(),
    )


def test_events_are_stored_in_the_log_with_their_metadata() -> None:
    iid, tid = f.new_id(), f.new_id()
    given = uuid.uuid4()
    batch = [
        {**f.workflow_started(iid, "2026-11-25T09:00:00"), "event_id": str(given).upper()},
        f.human_task_created(iid.upper(), 1, "{" + tid + "}", extra_field=[1, 2]),
    ]
    result = ingest_events(events=batch, source="token:engine-a")
    assert [r.status for r in result.results] == ["accepted", "accepted"]
    started, created = Event.objects.order_by("seq")
    assert started.seq < created.seq
    assert started.event_id == given
    assert started.event_id_given is True
    assert created.event_id_given is False
    assert created.event_id == parse_event(batch[1]).event_id
    assert (started.type, created.type) == ("WorkflowStarted", "HumanTaskCreated")
    assert started.instance_id == created.instance_id == uuid.UUID(iid)
    assert started.task_id is None
    assert created.task_id == uuid.UUID(tid)
    assert started.timestamp == f.at(0)
    assert created.source == "token:engine-a"
    assert created.received_at is not None
    assert created.payload["task_id"] == tid
    assert created.payload["instance_id"] == iid
    assert created.payload["extra_field"] == [1, 2]
    assert result.results[1].warnings == ("unknown field 'extra_field' kept but ignored",)
    assert result.results[0].event_id == given


def test_the_same_event_twice_is_stored_once() -> None:
    iid, tid = f.new_id(), f.new_id()
    event = f.human_task_created(iid, 1, tid)
    first = ingest_events(events=[event], source="test")
    before = f.snapshot(iid)
    second = ingest_events(events=[event], source="test")
    assert (first.accepted, first.duplicates) == (1, 0)
    assert (second.accepted, second.duplicates) == (0, 1)
    assert second.results[0].status == "duplicate"
    assert second.results[0].event_id == first.results[0].event_id
    assert Event.objects.count() == 1
    assert f.snapshot(iid) == before
    assert f.snapshot(iid)["instances"][0]["event_count"] == 1


def test_the_same_event_in_another_spelling_is_a_duplicate() -> None:
    iid, tid = f.new_id(), f.new_id()
    ingest_events(events=[f.human_task_created(iid, "2026-11-25T09:01:00Z", tid)], source="t")
    again = ingest_events(
        events=[
            f.human_task_created(
                "urn:uuid:" + iid.upper(), "2026-11-25T10:01:00+01:00", tid.upper()
            )
        ],
        source="t",
    )
    assert again.duplicates == 1
    assert Event.objects.count() == 1


def test_the_same_batch_twice() -> None:
    iid, tid = f.new_id(), f.new_id()
    batch = history(iid, tid)
    first = ingest_events(events=batch, source="test")
    before = f.snapshot(iid)
    stored = counts()
    second = ingest_events(events=batch, source="test")
    assert (first.accepted, first.duplicates) == (4, 0)
    assert (second.accepted, second.duplicates) == (0, 4)
    assert [r.index for r in second.results] == [0, 1, 2, 3]
    assert [r.event_id for r in second.results] == [r.event_id for r in first.results]
    assert counts() == stored
    assert f.snapshot(iid) == before
    assert second.changes.instances == set()


def test_a_batch_overlapping_an_earlier_one() -> None:
    iid, tid = f.new_id(), f.new_id()
    batch = history(iid, tid)
    ingest_events(events=batch[:2], source="test")
    result = ingest_events(events=batch, source="test")
    assert [r.status for r in result.results] == ["duplicate", "duplicate", "accepted", "accepted"]
    assert Event.objects.count() == 4


def test_a_duplicate_inside_one_batch() -> None:
    iid, tid = f.new_id(), f.new_id()
    event = f.human_task_created(iid, 1, tid)
    result = ingest_events(events=[event, f.workflow_started(iid, 0), event], source="test")
    assert [r.status for r in result.results] == ["accepted", "accepted", "duplicate"]
    assert result.results[0].event_id == result.results[2].event_id
    assert (result.accepted, result.duplicates) == (2, 1)
    assert Event.objects.count() == 2
    assert HumanTask.objects.get().task_id == uuid.UUID(tid)


def test_one_bad_event_refuses_the_whole_batch() -> None:
    iid, tid = f.new_id(), f.new_id()
    ingest_events(events=[f.workflow_started(iid, 0)], source="test")
    stored, before = counts(), f.snapshot(iid)
    bad = {**f.step_started(iid, 2), "step_type": 7}
    with pytest.raises(IngestError) as info:
        ingest_events(events=[*history(f.new_id(), tid), bad, {"type": "Nope"}], source="test")
    problems = [(p.index, p.field) for p in info.value.problems]
    assert problems == [(4, "step_type"), (5, "type")]
    assert "string" in info.value.problems[0].message
    assert "event 4: step_type" in str(info.value)
    assert counts() == stored
    assert f.snapshot(iid) == before


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(IngestError, match="empty"):
        ingest_events(events=[], source="test")
    assert Event.objects.count() == 0


def test_a_task_claimed_by_two_instances_is_refused() -> None:
    first, second, tid = f.new_id(), f.new_id(), f.new_id()
    ingest_events(events=[f.human_task_created(first, 1, tid)], source="test")
    with pytest.raises(IngestError) as info:
        ingest_events(
            events=[f.workflow_started(second, 0), f.human_task_completed(second, 2, tid)],
            source="test",
        )
    (problem,) = info.value.problems
    assert (problem.index, problem.field) == (1, "task_id")
    assert first in problem.message
    assert Event.objects.count() == 1
    assert HumanTask.objects.get().instance_id == uuid.UUID(first)


def test_a_task_claimed_by_two_instances_in_one_batch_is_refused() -> None:
    first, second, tid = f.new_id(), f.new_id(), f.new_id()
    with pytest.raises(IngestError) as info:
        ingest_events(
            events=[f.human_task_created(first, 1, tid), f.human_task_completed(second, 2, tid)],
            source="test",
        )
    assert [(p.index, p.field) for p in info.value.problems] == [(1, "task_id")]
    assert Event.objects.count() == 0


def test_a_failure_while_folding_stores_nothing() -> None:
    iid = f.new_id()
    with (
        mock.patch.object(ingest, "refold", side_effect=DatabaseError("boom")),
        pytest.raises(DatabaseError),
    ):
        ingest_events(events=[f.workflow_started(iid, 0)], source="test")
    assert counts() == (0, 0, 0, 0)


def test_the_signal_is_sent_after_commit_with_the_changes(
    django_capture_on_commit_callbacks: Any,
) -> None:
    received: list[Any] = []

    def listener(sender: Any, changes: Any, **kwargs: Any) -> None:
        received.append(changes)

    iid, tid = f.new_id(), f.new_id()
    ingest.events_ingested.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest_events(events=history(iid, tid), source="test")
            assert received == []
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            ingest_events(events=history(iid, tid), source="test")
    finally:
        ingest.events_ingested.disconnect(listener)
    (changes,) = received
    assert changes.instances == {uuid.UUID(iid)}
    assert [c.task_id for c in changes.tasks] == [uuid.UUID(tid)]
    assert callbacks == []  # duplicates only: nothing changed, nothing to tell


# --- record_action -------------------------------------------------------------------------


def test_record_action_writes_one_event_and_one_outbox_command() -> None:
    iid, tid = f.new_id(), f.new_id()
    ingest_events(events=history(iid, tid), source="token:engine")
    events_before = Event.objects.count()
    event = WorkflowCanceled(
        instance_id=uuid.UUID(iid), timestamp=f.at(5), reason="no longer needed"
    )
    stored = record_action(event=event, actor="admin", action="cancel")
    assert Event.objects.count() == events_before + 1
    assert OutboxCommand.objects.count() == 1
    command = OutboxCommand.objects.get()
    assert command.event_id == stored.seq
    assert command.kind == "WorkflowCanceled"
    assert command.instance_id == uuid.UUID(iid)
    assert command.payload["type"] == "WorkflowCanceled"
    assert command.payload["reason"] == "no longer needed"
    assert uuid.UUID(command.payload["event_id"]) == stored.event_id
    assert stored.source == "dashboard:admin"
    assert stored.event_id_given
    inst = WorkflowInstance.objects.get(instance_id=iid)
    assert inst.status == "canceled"
    assert inst.canceled_by == "admin"  # from the source, when the event names nobody
    assert HumanTask.objects.get().status == "canceled"


def test_record_action_is_one_transaction() -> None:
    iid = f.new_id()
    event = WorkflowCanceled(instance_id=uuid.UUID(iid), timestamp=f.at(5), reason="stop")
    with (
        mock.patch.object(
            OutboxCommand.objects, "create", side_effect=DatabaseError("outbox down")
        ),
        pytest.raises(DatabaseError),
    ):
        record_action(event=event, actor="admin", action="cancel")
    assert Event.objects.count() == 0
    assert WorkflowInstance.objects.count() == 0
    assert OutboxCommand.objects.count() == 0


def test_record_action_refuses_an_invalid_event() -> None:
    event = WorkflowCanceled(instance_id=uuid.uuid4(), timestamp=f.at(5), reason="x" * 10)
    bad = WorkflowCanceled(instance_id=event.instance_id, timestamp=f.at(5), reason=None)  # type: ignore[arg-type]
    with pytest.raises(IngestError, match="reason"):
        record_action(event=bad, actor="admin", action="cancel")
    assert Event.objects.count() == OutboxCommand.objects.count() == 0


@pytest.mark.django_db
def test_an_event_id_reused_for_different_content_is_refused_and_nothing_stored() -> None:
    iid = f.new_id()
    event_id = f.new_id()
    first = {**f.workflow_started(iid, 0), "event_id": event_id}
    ingest_events(events=[first], source="test")
    same_again = dict(first)
    other = {**f.workflow_started(iid, 5, workflow_name="other"), "event_id": event_id}
    new = f.step_started(iid, 6)

    assert ingest_events(events=[same_again], source="test").duplicates == 1
    with pytest.raises(IngestError) as excinfo:
        ingest_events(events=[new, other], source="test")

    (problem,) = excinfo.value.problems
    assert (problem.index, problem.field) == (1, "event_id")
    assert "already used for a different event" in problem.message
    assert Event.objects.count() == 1


def test_each_event_records_the_person_behind_it() -> None:
    iid, tid = f.new_id(), f.new_id()
    ingest_events(
        events=[
            f.workflow_started(iid, 0, user_id="carol"),
            f.step_started(iid, 1),
            f.human_task_created(iid, 2, task_id=tid),
            f.human_task_reassigned(iid, 3, task_id=tid, reassigned_by="bob", to_assignee="dave"),
        ],
        source="token:engine",
    )
    record_action(
        event=WorkflowCanceled(
            instance_id=uuid.UUID(iid), timestamp=f.at(4), reason="gone", canceled_by="someone-else"
        ),
        actor="admin",
        action="cancel",
    )
    actors = dict(Event.objects.values_list("type", "actor"))
    assert actors == {
        "WorkflowStarted": "carol",
        "StepStarted": "",
        "HumanTaskCreated": "",
        "HumanTaskReassigned": "bob",
        "WorkflowCanceled": "admin",  # the signed-in person, whatever the payload says
    }
