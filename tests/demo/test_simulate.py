"""The demo app's `simulate` command and the simulation behind it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError
from django.utils import timezone

from demo.simulation import KINDS, LiveFeed, generate
from demo.users import ensure_demo_users
from tests.support import events as f
from tests.support.commands import run, small_history, snapshot
from workflows.models import Event, HumanTask, StepRun, WorkflowInstance

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> None:
    ensure_demo_users()


@pytest.fixture
def simulated(demo: None) -> str:
    out, _ = run("simulate", "--workflows", "30", "--seed", "11")
    return out


def test_simulate_prints_a_summary(simulated: str) -> None:
    events = Event.objects.count()
    assert f"Simulated 30 workflows (seed 11): {events} events accepted" in simulated
    assert "document_review 10, employee_onboarding 10, expense_approval 10" in simulated
    assert "open tasks by person: alice" in simulated


def test_simulate_goes_through_ingest_and_makes_each_workflow_kind(simulated: str) -> None:
    assert set(Event.objects.values_list("source", flat=True)) == {"simulate"}
    names = Counter(WorkflowInstance.objects.values_list("workflow_name", flat=True))
    assert names == {kind: 10 for kind in KINDS}


def test_simulate_leaves_open_tasks_in_each_demo_inbox_and_team_queue(simulated: str) -> None:
    open_tasks = HumanTask.objects.open()
    for username in ("alice", "bob", "carol", "dave"):
        user = User.objects.get(username=username)
        assert open_tasks.filter(assignee_user=user).count() >= 2, username
        assert open_tasks.for_user(user).count() > open_tasks.filter(assignee_user=user).count()
    queued = {g.name for g in Group.objects.filter(tasks__status="open")}
    assert {"finance", "hr"} <= queued
    assert open_tasks.filter(due_at__lt=timezone.now()).exists(), "some are overdue"
    assert open_tasks.filter(due_at__gt=timezone.now()).exists(), "some are not yet due"


def test_simulate_routes_some_tasks_to_nobody(simulated: str) -> None:
    unrouted = HumanTask.objects.open().unrouted()
    assert unrouted.exists()
    for task in unrouted:
        name = task.assignee.split(":", 1)[-1]
        assert not User.objects.filter(username=name).exists()
        assert not Group.objects.filter(name=name).exists()


def test_simulate_has_every_outcome_and_the_rough_edges(simulated: str) -> None:
    statuses = set(WorkflowInstance.objects.values_list("status", flat=True))
    assert {"waiting", "completed", "failed", "canceled", "paused"} <= statuses
    failed = WorkflowInstance.objects.filter(status="failed").first()
    assert failed is not None and failed.error and failed.failed_step and failed.stack_trace
    # A retry: a failed attempt of a step, then a later attempt of the same step.
    retried = [
        run
        for run in StepRun.objects.filter(status="failed", step_type="machine")
        if StepRun.objects.filter(
            instance=run.instance, step_name=run.step_name, attempt=run.attempt + 1
        ).exists()
    ]
    assert retried and all(run.error and run.error_type for run in retried)
    assert StepRun.objects.filter(status="skipped").exclude(skip_reason="").exists()
    assert HumanTask.objects.filter(reassignment_count__gt=0).exists()
    assert HumanTask.objects.filter(status="canceled").exists()
    # Parallel steps: the IT and HR steps of an onboarding run at the same time.
    far = timezone.now() + timedelta(days=1)

    def overlap(a: StepRun, b: StepRun) -> bool:
        return a.started_at < (b.ended_at or far) and b.started_at < (a.ended_at or far)  # type: ignore[operator]

    parallel = [
        i
        for i in WorkflowInstance.objects.filter(workflow_name="employee_onboarding")
        for it in i.steps.filter(step_name="it_account_setup")
        for hr in i.steps.filter(step_name="hr_paperwork")
        if overlap(it, hr)
    ]
    assert parallel


def test_simulated_tasks_carry_rich_form_schemas_and_priorities(simulated: str) -> None:
    schemas = [t.form_schema for t in HumanTask.objects.all()]
    assert all(schemas)
    specs = [spec for s in schemas for spec in s["properties"].values()]  # type: ignore[index]
    formats = {spec.get("format") for spec in specs}
    assert {"date", "email"} <= formats
    assert any("enum" in spec for spec in specs)
    assert any(spec.get("maxLength", 0) > 200 for spec in specs), "a textarea"
    assert any(spec["type"] == "integer" and "minimum" in spec for spec in specs)
    assert any(spec["type"] == "number" and "maximum" in spec for spec in specs)
    assert any(spec["type"] == "boolean" for spec in specs)
    assert any("default" in spec and "title" in spec and "description" in spec for spec in specs)
    assert all(s.get("required") for s in schemas)  # type: ignore[union-attr]
    for s in schemas:
        jsonschema.Draft202012Validator.check_schema(s)
    # Completed tasks' form data satisfies their own schema.
    for task in HumanTask.objects.filter(status="completed"):
        jsonschema.validate(task.form_data, task.form_schema)  # type: ignore[arg-type]
    assert HumanTask.objects.filter(priority__gt=0).exists()


def test_simulated_time_spreads_over_the_last_days_up_to_now(simulated: str) -> None:
    now = timezone.now()
    stamps = list(Event.objects.values_list("timestamp", flat=True))
    assert max(stamps) <= now
    assert min(stamps) >= now - timedelta(days=7)
    assert max(stamps) - min(stamps) > timedelta(days=2)


def test_simulate_with_a_seed_repeats_itself() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    first = generate(workflows=9, seed=3, now=now)
    again = generate(workflows=9, seed=3, now=now)
    other = generate(workflows=9, seed=4, now=now)

    assert first.events == again.events
    assert first.events != other.events


def test_simulate_twice_with_one_seed_and_time_stores_the_events_once(demo: None) -> None:
    at = ["--seed", "8", "--workflows", "6", "--now", "2026-11-25T12:00:00Z"]
    run("simulate", *at)
    count, before = Event.objects.count(), snapshot()

    out, _ = run("simulate", *at)

    assert f"0 events accepted, {count} duplicates" in out
    assert Event.objects.count() == count
    assert snapshot() == before


def test_the_same_seed_later_adds_new_workflows_without_reusing_event_ids(demo: None) -> None:
    run("simulate", "--seed", "8", "--workflows", "6", "--now", "2026-11-25T12:00:00Z")

    out, _ = run("simulate", "--seed", "8", "--workflows", "6", "--now", "2026-11-25T13:00Z")

    assert "0 duplicates" in out
    assert WorkflowInstance.objects.count() == 12


def test_simulate_if_empty_does_nothing_when_the_log_has_events() -> None:
    f.ingest(small_history()[:1])

    out, _ = run("simulate", "--if-empty", "--workflows", "5")

    assert "not empty" in out
    assert Event.objects.count() == 1


def test_simulate_if_empty_simulates_into_an_empty_log(demo: None) -> None:
    run("simulate", "--if-empty", "--workflows", "5", "--seed", "1")

    assert WorkflowInstance.objects.count() == 5


def test_simulate_continuously_streams_events_in_real_time(demo: None) -> None:
    started = timezone.now()

    out, _ = run("simulate", "--continuous", "--rate", "40", "--duration", "0.6", "--seed", "2")

    stamps = list(Event.objects.order_by("seq").values_list("timestamp", flat=True))
    assert 10 <= len(stamps) <= 40
    assert f"Sent {len(stamps)} events" in out
    assert all(started <= ts <= timezone.now() + timedelta(seconds=1) for ts in stamps)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert WorkflowInstance.objects.filter(workflow_name__in=KINDS).exists()


def test_live_feed_plays_workflows_in_order_and_replaces_finished_ones() -> None:
    feed = LiveFeed(seed=5, in_flight=3)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)

    events = feed.take(400, now=now)

    assert sum(feed.started.values()) > 3
    assert sum(feed.finished.values()) >= sum(feed.started.values()) - 3
    by_instance: dict[str, list[str]] = {}
    for event in events:
        by_instance.setdefault(event["instance_id"], []).append(event["type"])
    # Each workflow begins with WorkflowStarted (its script is played in order).
    assert all(types[0] == "WorkflowStarted" for types in by_instance.values())


@pytest.mark.parametrize("option", [["--workflows", "0"], ["--continuous", "--rate", "0"]])
def test_simulate_refuses_nonsense_options(option: list[str]) -> None:
    with pytest.raises(CommandError):
        run("simulate", *option)
