"""Property: projections are a function of the set of events, not of their arrival.

For generated histories (several instances, steps with retries, tasks, pauses, terminal
events, many events sharing a timestamp), every sampled arrival order and batching, and a
refold or a full ``rebuild_projections`` afterwards, give identical projections.
"""

from __future__ import annotations

import io
import itertools
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support import events as f
from workflows.fold import EventRow, fold_instance
from workflows.ingest import ingest_events
from workflows.store import refold
from workflows.wire import parse_event

pytestmark = pytest.mark.django_db

_NAMESPACE = uuid.UUID("0f8e2c4a-55b1-4c1e-8f0e-6a1d2b3c4d5e")
STEP_NAMES = ("validate", "approve", "notify")
ASSIGNEES = ("alice", "managers", "user:managers", "group:alice", "ghost", "bob")
# Few distinct minutes, so many events share a timestamp.
minutes = st.integers(min_value=0, max_value=6)


def _task_id(instance_id: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{instance_id}/{index}"))


@st.composite
def instance_events(draw: st.DrawFn, instance_id: str) -> list[dict[str, Any]]:
    kinds = draw(st.lists(st.sampled_from(sorted(f.BUILDERS)), min_size=1, max_size=9))
    events = []
    for kind in kinds:
        ts = draw(minutes)
        step = draw(st.sampled_from(STEP_NAMES))
        task = _task_id(instance_id, draw(st.integers(0, 2)))
        match kind:
            case "WorkflowStarted":
                e = f.workflow_started(instance_id, ts, workflow_name=draw(st.sampled_from("xy")))
            case "WorkflowCompleted":
                status = draw(st.sampled_from(["COMPLETED", "completed"]))
                e = f.workflow_completed(instance_id, ts, status=status, final_step=step)
            case "WorkflowFailed":
                e = f.workflow_failed(instance_id, ts, failed_step=step)
            case "WorkflowCanceled":
                e = f.workflow_canceled(instance_id, ts, canceled_by=draw(st.sampled_from("ab")))
            case "WorkflowPaused":
                e = f.workflow_paused(instance_id, ts, paused_at_step=step)
            case "WorkflowResumed":
                e = f.workflow_resumed(instance_id, ts, resuming_at_step=step)
            case "StepStarted":
                step_type = draw(st.sampled_from(["MACHINE", "human"]))
                e = f.step_started(instance_id, ts, step, step_type=step_type)
            case "StepCompleted":
                e = f.step_completed(instance_id, ts, step, result=draw(st.integers(0, 2)))
            case "StepFailed":
                e = f.step_failed(instance_id, ts, step, retry_count=draw(st.integers(0, 2)))
            case "StepSkipped":
                e = f.step_skipped(instance_id, ts, step)
            case "HumanTaskCreated":
                e = f.human_task_created(
                    instance_id,
                    ts,
                    task,
                    step_name=step,
                    assignee=draw(st.sampled_from(ASSIGNEES)),
                    due_at=f.iso(draw(minutes) * 60),
                    priority=draw(st.integers(0, 3)),
                )
            case "HumanTaskCompleted":
                completed_by = draw(st.sampled_from(["alice", "bob", "zed"]))
                e = f.human_task_completed(
                    instance_id, ts, task, step_name=step, completed_by=completed_by
                )
            case _:
                to = draw(st.sampled_from(ASSIGNEES))
                e = f.human_task_reassigned(instance_id, ts, task, step_name=step, to_assignee=to)
        if draw(st.booleans()) and draw(st.booleans()):
            # A sender's own id, unique to this content (as an engine's would be).
            e["event_id"] = str(uuid.uuid5(_NAMESPACE, json.dumps(e, sort_keys=True)))
        events.append(e)
    return events


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=3))
    events: list[dict[str, Any]] = []
    for index in range(count):
        events.extend(draw(instance_events(str(uuid.UUID(int=index + 1)))))
    return events


@st.composite
def deliveries(draw: st.DrawFn, events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """A permutation of the events, some re-sent, split into batches at random points."""
    order = draw(st.permutations(events))
    resent = draw(st.lists(st.sampled_from(events), max_size=3))
    order = [*order, *resent]
    cuts = sorted(set(draw(st.lists(st.integers(1, len(order)), max_size=4))))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds) if a < b]


def projections_after(batches: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Ingest the batches in a savepoint, check refold and rebuild agree, then roll back."""
    with transaction.atomic():
        for batch in batches:
            ingest_events(events=list(batch), source="token:prop")
        ingested = f.snapshot()
        assert_report_fields(ingested)
        refold([row["instance_id"] for row in ingested["instances"]])
        assert f.snapshot() == ingested, "refold changed the projections"
        call_command("rebuild_projections", verbosity=0, stdout=io.StringIO())
        assert f.snapshot() == ingested, "rebuild_projections changed the projections"
        transaction.set_rollback(True)
    return ingested


def assert_report_fields(snapshot: dict[str, Any]) -> None:
    """Each task row's copies for the Reports page: its instance's workflow name, and the
    time from creation to completion of a completed task (None otherwise)."""
    names = {row["instance_id"]: row["workflow_name"] for row in snapshot["instances"]}
    for task in snapshot["tasks"]:
        assert task["workflow_name"] == names[task["instance_id"]]
        done = task["status"] == "completed" and task["created_at"] and task["completed_at"]
        expected = (task["completed_at"] - task["created_at"]).total_seconds() if done else None
        assert task["cycle_seconds"] == expected


@pytest.fixture
def people(db: Any) -> None:
    User.objects.create_user("alice")
    managers = User.objects.create_user("managers")
    Group.objects.create(name="managers").user_set.add(managers)
    Group.objects.create(name="alice")


@settings(
    max_examples=30,
    deadline=None,
    # Shrinking through the database takes minutes; a failure prints its whole history.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), data=st.data())
def test_every_arrival_order_and_rebuild_give_the_same_projections(
    people: None, events: list[dict[str, Any]], data: st.DataObject
) -> None:
    reference = projections_after([events])
    assert len(reference["instances"]) == len({e["instance_id"] for e in events})
    # One event per request, in reverse.
    assert projections_after([[e] for e in reversed(events)]) == reference
    for _ in range(2):
        assert projections_after(data.draw(deliveries(events))) == reference


@given(events=histories(), data=st.data())
def test_the_fold_is_a_function_of_the_set_of_events(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """The pure fold, without a database: any permutation, the same rows."""
    rows = []
    for seq, obj in enumerate(events, start=1):
        parsed = parse_event(obj)
        rows.append(
            EventRow(
                seq, parsed.event_id, parsed.type, parsed.event.timestamp, parsed.payload(), ""
            )
        )
    # Deduplicate as ingest does, keeping the first arrival.
    unique = list({r.event_id: r for r in reversed(rows)}.values())
    instance_id = uuid.UUID(int=1)
    mine = [r for r in unique if r.payload["instance_id"] == str(instance_id)]
    reference = fold_instance(instance_id, mine)
    shuffled = data.draw(st.permutations(mine))
    renumbered = [
        EventRow(seq, r.event_id, r.type, r.timestamp, r.payload, r.source)
        for seq, r in enumerate(shuffled, start=1)
    ]
    again = fold_instance(instance_id, renumbered)
    assert again == reference
