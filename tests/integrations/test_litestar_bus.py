"""DashboardEventBus against a real LocalExecutionEngine and a fake dashboard."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

from examples.litestar_approval import APPROVAL_FORM, ExpenseApproval
from integrations.litestar_workflows import (
    DashboardEventBus,
    complete_human_task,
    event_id_for,
    task_id_for,
)
from tests.integrations.fakes import TOKEN, FakeDashboard, wait_until

URL = "http://dashboard.test"
EXPENSE = {"business_key": "EXP-2026-0001", "amount": 120.0, "requester": "carol"}


def make_engine(bus: DashboardEventBus, *workflows: Any) -> LocalExecutionEngine:
    registry = WorkflowRegistry()
    for workflow in workflows or (ExpenseApproval,):
        registry.register(workflow)
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)
    bus.attach(engine)
    return engine


def fast_bus(transport: httpx.AsyncBaseTransport, **kwargs: Any) -> DashboardEventBus:
    kwargs.setdefault("retry_base", 0.01)
    kwargs.setdefault("retry_max", 0.05)
    return DashboardEventBus(URL, TOKEN, transport=transport, **kwargs)


async def start_and_wait(engine: LocalExecutionEngine, data: dict[str, Any]) -> Any:
    instance = await engine.start_workflow(ExpenseApproval, initial_data=data)
    await wait_until(lambda: instance.status == WorkflowStatus.WAITING)
    return instance


async def test_a_run_to_a_human_step_sends_started_steps_and_the_task(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await start_and_wait(engine, {**EXPENSE, "approver": "alice"})
    assert await bus.flush(timeout=2)

    assert dashboard.types() == [
        "WorkflowStarted",
        "StepStarted",
        "StepCompleted",
        "StepStarted",
        "HumanTaskCreated",
    ]
    started = dashboard.of_type("WorkflowStarted")[0]
    assert started["instance_id"] == str(instance.id)
    assert started["workflow_name"] == "expense_approval"
    assert started["workflow_version"] == "1.0.0"
    assert started["initial_data"] == {**EXPENSE, "approver": "alice"}

    prepare_started, prepare_done = dashboard.order[1], dashboard.order[2]
    assert (prepare_started["step_name"], prepare_started["step_type"]) == ("prepare", "machine")
    assert prepare_done["status"] == "succeeded"
    assert prepare_done["result"] == {"amount": 120.0, "approver": "alice"}
    assert prepare_done["duration_seconds"] >= 0

    task = dashboard.of_type("HumanTaskCreated")[0]
    assert task["step_name"] == "approve"
    assert task["title"] == "Approve expense"
    assert task["description"].startswith("Check the amount")
    assert task["form_schema"] == APPROVAL_FORM
    assert task["assignee"] == "alice"
    assert task["task_id"] == str(task_id_for(instance.id, "approve", 1))
    uuid.UUID(task["task_id"])

    for event in dashboard.order:
        uuid.UUID(event["event_id"])
        stamp = datetime.fromisoformat(event["timestamp"])
        assert stamp.tzinfo is not None and stamp.utcoffset() == UTC.utcoffset(None)
    assert len({e["event_id"] for e in dashboard.order}) == len(dashboard.order)
    assert bus.sent == 5 and bus.dropped == 0 and bus.pending == 0
    await bus.aclose()


async def test_the_assignee_falls_back_to_the_finance_team(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = fast_bus(transport)
    engine = make_engine(bus)
    await start_and_wait(engine, EXPENSE)
    assert await bus.flush(timeout=2)
    assert dashboard.of_type("HumanTaskCreated")[0]["assignee"] == "finance"
    await bus.aclose()


async def test_every_event_is_valid_for_the_dashboards_parser(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    from workflows.wire import parse_event  # the dashboard's own parser (Django's side)

    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await start_and_wait(engine, {**EXPENSE, "approver": "alice"})
    await complete_human_task(engine, instance.id, "approve", "alice", {"approved": True})
    await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
    assert await bus.flush(timeout=2)
    assert "WorkflowCompleted" in dashboard.types()
    for event in dashboard.order:
        parsed = parse_event(event)
        assert str(parsed.event_id) == event["event_id"]
    await bus.aclose()


async def test_a_resend_is_a_duplicate_with_the_same_ids(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await start_and_wait(engine, EXPENSE)
    assert await bus.flush(timeout=2)
    first = list(dashboard.order)

    # The engine (or a restarted bus) says the same thing again: same ids, same content.
    await bus.emit("workflow.waiting", instance_id=instance.id, step_name="approve")
    restarted = fast_bus(transport)
    restarted.attach(engine)
    await restarted.emit("workflow.started", instance_id=instance.id)
    await restarted.emit("workflow.waiting", instance_id=instance.id, step_name="approve")
    assert await bus.flush(timeout=2) and await restarted.flush(timeout=2)

    assert dashboard.order == first  # nothing new
    assert dashboard.duplicates >= 2 + len(first) - 1
    assert restarted.refused == 0 and bus.refused == 0
    assert first[0]["event_id"] == str(event_id_for(instance.id, "WorkflowStarted"))
    await bus.aclose()
    await restarted.aclose()


async def test_the_dashboard_being_down_does_not_stall_the_engine(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    dashboard.mode = "down"
    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await start_and_wait(engine, EXPENSE)  # the engine got to the human step
    await wait_until(lambda: bus.failed_attempts >= 2)
    assert dashboard.order == [] and bus.pending == 5
    assert "cannot reach" in (bus.last_error or "")
    assert not await bus.flush(timeout=0.05)

    dashboard.mode = "503"
    await wait_until(lambda: dashboard.attempts >= 4)
    assert dashboard.order == []

    dashboard.mode = "up"
    assert await bus.flush(timeout=2)
    assert dashboard.types()[0] == "WorkflowStarted"
    assert len(dashboard.order) == 5 and bus.pending == 0
    assert dashboard.of_type("HumanTaskCreated")[0]["task_id"] == str(
        task_id_for(instance.id, "approve", 1)
    )
    await bus.aclose()


async def test_the_queue_is_bounded_and_drops_are_counted_and_logged(
    dashboard: FakeDashboard, transport: httpx.MockTransport, caplog: pytest.LogCaptureFixture
) -> None:
    dashboard.mode = "down"
    bus = fast_bus(transport, max_queue=3)
    engine = make_engine(bus)
    with caplog.at_level(logging.WARNING, logger="integrations.litestar_workflows"):
        instance = await start_and_wait(engine, EXPENSE)
    assert bus.pending == 3 and bus.dropped == 2
    assert any(
        "dropped" in r.getMessage() and "queue is full" in r.getMessage() for r in caplog.records
    )
    assert instance.status == WorkflowStatus.WAITING

    dashboard.mode = "up"
    assert await bus.flush(timeout=2)
    assert dashboard.types() == ["WorkflowStarted", "StepStarted", "StepCompleted"]
    await bus.aclose()


async def test_a_refused_event_is_dropped_and_the_rest_of_its_batch_delivered(
    dashboard: FakeDashboard, transport: httpx.MockTransport, caplog: pytest.LogCaptureFixture
) -> None:
    dashboard.refuse_index = 1  # the next batch: its second event is refused
    bus = fast_bus(transport)
    engine = make_engine(bus)
    with caplog.at_level(logging.ERROR, logger="integrations.litestar_workflows"):
        await start_and_wait(engine, EXPENSE)
        assert await bus.flush(timeout=2)
    assert bus.refused == 1
    assert len(dashboard.order) == 4 and "refused" in caplog.text
    await bus.aclose()


async def test_a_refused_batch_as_a_whole_is_dropped(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    dashboard.mode = "422"  # errors with index null: the body as a whole
    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await start_and_wait(engine, EXPENSE)
    assert await bus.flush(timeout=2)
    assert bus.refused == 5 and dashboard.order == [] and bus.pending == 0
    dashboard.mode = "up"
    await engine.cancel_workflow(instance.id, "no longer needed")
    assert await bus.flush(timeout=2)
    assert dashboard.types() == ["WorkflowCanceled"]
    assert dashboard.order[0]["reason"] == "no longer needed"
    await bus.aclose()


@pytest.mark.parametrize("status", [400, 415])
async def test_answers_resending_cannot_fix_drop_the_batch(status: int) -> None:
    bus = fast_bus(httpx.MockTransport(lambda request: httpx.Response(status, text="no")))
    engine = make_engine(bus)
    await start_and_wait(engine, EXPENSE)
    assert await bus.flush(timeout=2)
    assert bus.refused == 5 and bus.sent == 0 and bus.failed_attempts == 0  # not retried
    await bus.aclose()


@pytest.mark.parametrize("status", [401, 404, 405])
async def test_answers_an_operator_can_fix_are_retried_and_lose_nothing(status: int) -> None:
    answers = iter([status, status])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers, 200), json={"accepted": 1})

    bus = fast_bus(httpx.MockTransport(handler))
    engine = make_engine(bus)
    await start_and_wait(engine, EXPENSE)
    assert await bus.flush(timeout=5)
    assert bus.refused == 0 and bus.sent == 5 and bus.failed_attempts == 2
    await bus.aclose()


async def test_batches_respect_batch_size(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    dashboard.mode = "down"
    bus = fast_bus(transport, batch_size=2)
    engine = make_engine(bus)
    await start_and_wait(engine, EXPENSE)
    dashboard.mode = "up"
    assert await bus.flush(timeout=2)
    assert [len(b) for b in dashboard.batches] == [2, 2, 1]
    await bus.aclose()


async def test_an_empty_bus_is_still_truthy_for_the_engine(transport: httpx.MockTransport) -> None:
    # LocalExecutionEngine emits only ``if self.event_bus:``.
    assert bool(fast_bus(transport))


async def test_a_failing_step_is_reported_with_its_error(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = fast_bus(transport)
    engine = make_engine(bus)
    instance = await engine.start_workflow(ExpenseApproval, initial_data={"amount": -5})
    await wait_until(lambda: instance.status == WorkflowStatus.FAILED)
    assert await bus.flush(timeout=2)
    assert dashboard.types() == ["WorkflowStarted", "StepStarted", "StepFailed", "WorkflowFailed"]
    step_failed, workflow_failed = dashboard.order[2], dashboard.order[3]
    assert step_failed["step_name"] == "prepare"
    assert "amount must be positive" in step_failed["error"]
    assert workflow_failed["failed_step"] == "prepare"
    assert "amount must be positive" in workflow_failed["error"]
    await bus.aclose()


# --- a human step visited twice gets two tasks ---------------------------------------------


class Draft(BaseMachineStep):
    def __init__(self) -> None:
        super().__init__("draft", "Write the draft")

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        context.set("drafts", int(context.get("drafts") or 0) + 1)
        return {"drafts": context.get("drafts")}


class Review(BaseHumanStep):
    def __init__(self) -> None:
        super().__init__("review", "Review the draft", form_schema=None, assignee_key="editor")


class Publish(BaseMachineStep):
    def __init__(self) -> None:
        super().__init__("publish", "Publish")

    async def execute(self, context: WorkflowContext) -> str:
        return "published"


class ReviewLoop:
    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name="review_loop",
            version="2",
            description="",
            steps={"draft": Draft(), "review": Review(), "publish": Publish()},
            edges=[
                Edge("draft", "review"),
                Edge("review", "draft", condition=lambda ctx: not ctx.get("ok")),
                Edge("review", "publish", condition=lambda ctx: bool(ctx.get("ok"))),
            ],
            initial_step="draft",
            terminal_steps={"publish"},
        )


async def test_a_second_visit_of_a_human_step_is_a_second_task(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = fast_bus(transport)
    engine = make_engine(bus, ReviewLoop)
    instance = await engine.start_workflow(ReviewLoop, initial_data={"editor": "ed"})
    await wait_until(lambda: instance.status == WorkflowStatus.WAITING)
    await complete_human_task(engine, instance.id, "review", "ed", {"ok": False})
    await wait_until(
        lambda: (
            instance.status == WorkflowStatus.WAITING and len(instance.context.step_history) == 3
        )
    )
    await complete_human_task(engine, instance.id, "review", "ed", {"ok": True})
    await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
    assert await bus.flush(timeout=2)

    created = dashboard.of_type("HumanTaskCreated")
    assert [t["task_id"] for t in created] == [
        str(task_id_for(instance.id, "review", 1)),
        str(task_id_for(instance.id, "review", 2)),
    ]
    completed = dashboard.of_type("HumanTaskCompleted")  # done in the engine app itself
    assert [t["task_id"] for t in completed] == [t["task_id"] for t in created]
    assert completed[1]["completed_by"] == "ed" and completed[1]["form_data"] == {"ok": True}
    assert dashboard.types()[-1] == "WorkflowCompleted"
    await bus.aclose()


def test_the_adapter_imports_without_django() -> None:
    code = (
        "import sys; import integrations.litestar_workflows, examples.litestar_approval; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'inbox', 'workflows', 'workflows_ui', 'api', 'live', 'pages', 'config')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_real_connection_refused_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bus = DashboardEventBus(f"http://127.0.0.1:{port}", TOKEN, retry_base=0.01, retry_max=0.02)
    engine = make_engine(bus)
    with caplog.at_level(logging.WARNING, logger="integrations.litestar_workflows"):
        instance = await start_and_wait(engine, EXPENSE)
        await wait_until(lambda: bus.failed_attempts >= 2)
    assert instance.status == WorkflowStatus.WAITING and bus.pending == 5
    assert "cannot reach" in caplog.text
    await bus.aclose(timeout=0.05)
    assert bus.dropped == 5 and bus.pending == 0
