"""DashboardCommands: signed dashboard commands applied to a real LocalExecutionEngine."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
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

from examples.litestar_approval import ExpenseApproval, create_app
from integrations.litestar_workflows import (
    DashboardCommands,
    DashboardEventBus,
    complete_human_task,
    sign,
    task_id_for,
)
from tests.integrations.fakes import TOKEN, FakeDashboard, wait_until

SECRET = "whsec-test-1"
URL = "http://dashboard.test"


def command(
    kind: str,
    instance_id: uuid.UUID | str,
    *,
    task_id: uuid.UUID | str | None = None,
    event: dict[str, Any] | None = None,
    actor: str = "dana",
    command_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": command_id or str(uuid.uuid4()),
        "kind": kind,
        "instance_id": str(instance_id),
        "task_id": str(task_id) if task_id else None,
        "actor": actor,
        "created_at": "2026-03-01T09:00:00+00:00",
        "event": event or {},
    }


def signed(
    body: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    extra_signatures: tuple[str, ...] = (),
) -> tuple[dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    command_id = json.loads(raw)["id"] if isinstance(body, dict) else str(uuid.uuid4())
    signature = ",".join([*extra_signatures, sign(secret, stamp, raw)])
    headers = {
        "X-Dashboard-Command-Id": command_id,
        "X-Dashboard-Timestamp": str(stamp),
        "x-dashboard-signature": signature,  # header names are case-insensitive
    }
    return headers, raw


def completion(instance_id: uuid.UUID, task_id: uuid.UUID, **form: Any) -> dict[str, Any]:
    event = {
        "type": "HumanTaskCompleted",
        "event_id": str(uuid.uuid4()),
        "instance_id": str(instance_id),
        "timestamp": "2026-03-01T09:00:00+00:00",
        "step_name": "approve",
        "task_id": str(task_id),
        "completed_by": "dana",
        "form_data": form or {"approved": True, "comment": "fine"},
        "comment": "fine",
    }
    return command("complete", instance_id, task_id=task_id, event=event)


@dataclass
class World:
    engine: LocalExecutionEngine
    bus: DashboardEventBus
    commands: DashboardCommands
    dashboard: FakeDashboard

    async def waiting_expense(self, **data: Any) -> Any:
        initial = {"business_key": "EXP-2026-0001", "amount": 80.0, "requester": "carol", **data}
        instance = await self.engine.start_workflow(ExpenseApproval, initial_data=initial)
        await wait_until(lambda: instance.status == WorkflowStatus.WAITING)
        return instance


@pytest.fixture
async def world(dashboard: FakeDashboard, transport: httpx.MockTransport) -> AsyncIterator[World]:
    bus = DashboardEventBus(URL, TOKEN, transport=transport, retry_base=0.01, retry_max=0.05)
    registry = WorkflowRegistry()
    registry.register(ExpenseApproval)
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)
    bus.attach(engine)
    yield World(engine, bus, DashboardCommands(engine, secret=SECRET), dashboard)
    await bus.aclose()


def open_task(instance: Any) -> uuid.UUID:
    return task_id_for(instance.id, "approve", 1)


# --- complete -------------------------------------------------------------------------------


async def test_a_signed_complete_moves_the_engine_past_the_human_step(world: World) -> None:
    instance = await world.waiting_expense()
    headers, raw = signed(completion(instance.id, open_task(instance), approved=True))

    status, body = await world.commands.handle(headers, raw)

    assert (status, body["status"]) == (200, "applied")
    await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
    assert [h.step_name for h in instance.context.step_history] == ["prepare", "approve", "record"]
    assert instance.context.data["decision"] == "approved"
    assert instance.context.user_id == "dana"
    assert world.engine._running == {}

    assert await world.bus.flush(timeout=2)
    types = world.dashboard.types()
    assert types[-3:] == ["StepStarted", "StepCompleted", "WorkflowCompleted"]
    # The dashboard recorded the completion itself: the bus does not send a second one.
    assert "HumanTaskCompleted" not in types
    approve_done = [
        e for e in world.dashboard.of_type("StepCompleted") if e["step_name"] == "approve"
    ]
    assert approve_done[0]["output_data"] == {"approved": True}


async def test_the_upstream_engine_alone_does_not_resume_after_a_human_task() -> None:
    """Documents litestar-workflows 0.3.3: why complete_human_task here exists."""

    class PlainBus:  # any bus that is not ours: nothing clears engine._running
        async def emit(self, event_type: str, **data: Any) -> None:
            pass

    registry = WorkflowRegistry()
    registry.register(ExpenseApproval)
    engine = LocalExecutionEngine(registry=registry, event_bus=PlainBus())
    stuck = await engine.start_workflow(ExpenseApproval, initial_data={"amount": 5})
    await wait_until(lambda: stuck.status == WorkflowStatus.WAITING)
    assert engine._running[stuck.id].done()  # finished, but never removed

    await engine.complete_human_task(stuck.id, "approve", "dana", {"approved": True})
    await asyncio.sleep(0.05)  # time enough for a resumed run to execute "record"; none does
    assert stuck.status == WorkflowStatus.RUNNING and stuck.current_step == "record"
    assert [h.step_name for h in stuck.context.step_history] == ["prepare", "approve"]

    fixed = await engine.start_workflow(ExpenseApproval, initial_data={"amount": 5})
    await wait_until(lambda: fixed.status == WorkflowStatus.WAITING)
    await complete_human_task(engine, fixed.id, "approve", "dana", {"approved": False})
    await wait_until(lambda: fixed.status == WorkflowStatus.COMPLETED)
    assert fixed.context.data["decision"] == "rejected"


async def test_a_redelivered_command_changes_nothing(world: World) -> None:
    instance = await world.waiting_expense()
    headers, raw = signed(completion(instance.id, open_task(instance)))
    assert (await world.commands.handle(headers, raw))[0] == 200
    await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
    history = list(instance.context.step_history)

    headers, raw = signed(json.loads(raw))  # the same command, signed again later
    assert await world.commands.handle(headers, raw) == (200, {"status": "duplicate"})
    assert instance.context.step_history == history


async def test_a_command_that_could_not_be_applied_is_not_remembered(world: World) -> None:
    instance = await world.waiting_expense()
    body = completion(instance.id, open_task(instance))
    body["event"]["step_name"] = "record"
    status, answer = await world.commands.handle(*signed(body))
    assert status == 409 and "not waiting at step 'record'" in answer["error"]
    status, _ = await world.commands.handle(*signed(body))
    assert status == 409  # not "duplicate": it was never applied


async def test_a_stale_task_is_a_conflict(world: World) -> None:
    instance = await world.waiting_expense()
    stale = task_id_for(instance.id, "approve", 7)
    status, answer = await world.commands.handle(*signed(completion(instance.id, stale)))
    assert status == 409 and str(stale) in answer["error"]
    assert instance.status == WorkflowStatus.WAITING


async def test_completing_twice_with_two_commands_is_a_conflict(world: World) -> None:
    instance = await world.waiting_expense()
    task = open_task(instance)
    assert (await world.commands.handle(*signed(completion(instance.id, task))))[0] == 200
    await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
    status, answer = await world.commands.handle(*signed(completion(instance.id, task)))
    assert status == 409 and "completed" in answer["error"]


# --- authenticity --------------------------------------------------------------------------


async def test_a_tampered_body_is_refused(world: World) -> None:
    instance = await world.waiting_expense()
    headers, raw = signed(completion(instance.id, open_task(instance), approved=False))
    tampered = raw.replace(b'"approved": false', b'"approved": true')
    assert tampered != raw
    status, answer = await world.commands.handle(headers, tampered)
    assert status == 401 and "signature" in answer["error"]
    assert instance.status == WorkflowStatus.WAITING


async def test_a_wrong_secret_is_refused(world: World) -> None:
    instance = await world.waiting_expense()
    body = completion(instance.id, open_task(instance))
    status, _ = await world.commands.handle(*signed(body, secret="someone-else"))
    assert status == 401
    assert instance.status == WorkflowStatus.WAITING


@pytest.mark.parametrize("age", [301, -301, 3600])
async def test_a_stale_timestamp_is_refused(world: World, age: int) -> None:
    instance = await world.waiting_expense()
    body = completion(instance.id, open_task(instance))
    headers, raw = signed(body, timestamp=int(time.time()) - age)
    status, answer = await world.commands.handle(headers, raw)
    assert status == 401 and "stale" in answer["error"]


async def test_missing_or_malformed_signature_headers_are_refused(world: World) -> None:
    instance = await world.waiting_expense()
    headers, raw = signed(completion(instance.id, open_task(instance)))
    for name in ("X-Dashboard-Timestamp", "x-dashboard-signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        assert (await world.commands.handle(partial, raw))[0] == 401
    assert (await world.commands.handle({**headers, "X-Dashboard-Timestamp": "soon"}, raw))[
        0
    ] == 401
    bare = {**headers, "x-dashboard-signature": headers["x-dashboard-signature"][3:]}
    assert (await world.commands.handle(bare, raw))[0] == 401


async def test_any_matching_signature_is_accepted_during_a_rotation(world: World) -> None:
    instance = await world.waiting_expense()
    old = sign("the-old-secret", 0, b"")  # a v1= value that will not match
    headers, raw = signed(completion(instance.id, open_task(instance)), extra_signatures=(old,))
    assert "," in headers["x-dashboard-signature"]
    assert (await world.commands.handle(headers, raw))[0] == 200


async def test_malformed_bodies_are_bad_requests(world: World) -> None:
    instance = await world.waiting_expense()
    headers, raw = signed(b"not json")
    assert (await world.commands.handle(headers, raw))[0] == 400
    body = command("explode", instance.id)
    assert (await world.commands.handle(*signed(body)))[0] == 400
    body = completion(instance.id, open_task(instance))
    headers, raw = signed(body)
    headers["X-Dashboard-Command-Id"] = str(uuid.uuid4())
    status, answer = await world.commands.handle(headers, raw)
    assert status == 400 and "X-Dashboard-Command-Id" in answer["error"]
    del body["task_id"]
    assert (await world.commands.handle(*signed(body)))[0] == 400


# --- the other kinds -------------------------------------------------------------------------


async def test_cancel_cancels_the_engines_instance(world: World) -> None:
    instance = await world.waiting_expense()
    event = {"type": "WorkflowCanceled", "reason": "duplicate request", "canceled_by": "dana"}
    status, answer = await world.commands.handle(
        *signed(command("cancel", instance.id, event=event))
    )
    assert (status, answer["status"]) == (200, "applied")
    assert instance.status == WorkflowStatus.CANCELED
    assert instance.error == "Canceled: duplicate request"
    assert await world.bus.flush(timeout=2)
    assert "WorkflowCanceled" not in world.dashboard.types()  # the dashboard has its own

    again = command("cancel", instance.id, event=event)
    status, answer = await world.commands.handle(*signed(again))
    assert status == 409 and "already ended" in answer["error"]


@pytest.mark.parametrize("kind", ["pause", "resume"])
async def test_pause_and_resume_are_refused_for_good(world: World, kind: str) -> None:
    instance = await world.waiting_expense()
    status, answer = await world.commands.handle(*signed(command(kind, instance.id)))
    assert status == 422
    assert answer == {
        "status": "refused",
        "error": "litestar-workflows 0.3.3 cannot pause/resume a workflow",
    }
    assert instance.status == WorkflowStatus.WAITING


@pytest.mark.parametrize("kind", ["reassign", "claim", "release"])
async def test_assignment_commands_are_acknowledged(world: World, kind: str) -> None:
    instance = await world.waiting_expense()
    event = {
        "type": "HumanTaskReassigned",
        "step_name": "approve",
        "task_id": str(open_task(instance)),
        "from_assignee": "finance",
        "to_assignee": "erin",
        "reason": "holiday",
    }
    body = command(kind, instance.id, task_id=open_task(instance), event=event)
    assert await world.commands.handle(*signed(body)) == (200, {"status": "acknowledged"})
    assert await world.commands.handle(*signed(body)) == (200, {"status": "duplicate"})
    assert instance.status == WorkflowStatus.WAITING


async def test_an_unknown_instance_is_not_found(world: World) -> None:
    body = command("cancel", uuid.uuid4(), event={"reason": "x"})
    status, answer = await world.commands.handle(*signed(body))
    assert status == 404 and "no workflow instance" in answer["error"]


async def test_an_engine_error_looking_the_instance_up_is_retried_not_final(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await world.waiting_expense()

    async def broken(instance_id: uuid.UUID) -> Any:
        raise OSError("the persistence store is unreachable")

    monkeypatch.setattr(world.engine, "get_instance", broken)
    body = completion(instance.id, open_task(instance))
    status, answer = await world.commands.handle(*signed(body))
    assert status == 500 and "unreachable" in answer["error"]  # 404 would be final
    monkeypatch.undo()
    assert (await world.commands.handle(*signed(body)))[0] == 200


async def test_a_cancel_the_engine_fails_is_still_reported_by_the_bus(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = await world.waiting_expense()
    cancel_workflow = world.engine.cancel_workflow

    async def failing(instance_id: uuid.UUID, reason: str) -> None:
        raise RuntimeError("cannot cancel now")

    monkeypatch.setattr(world.engine, "cancel_workflow", failing)
    body = command("cancel", instance.id, event={"reason": "duplicate request"})
    assert (await world.commands.handle(*signed(body)))[0] == 500
    await cancel_workflow(instance.id, "withdrawn in the engine app")
    assert await world.bus.flush(timeout=2)
    assert [e["reason"] for e in world.dashboard.of_type("WorkflowCanceled")] == [
        "withdrawn in the engine app"
    ]


async def test_a_persistent_seen_store_can_be_passed_in(world: World) -> None:
    class Store(set[str]):
        pass

    store = Store()
    commands = DashboardCommands(world.engine, secret=SECRET, seen=store)
    instance = await world.waiting_expense()
    body = command("claim", instance.id, task_id=open_task(instance))
    assert (await commands.handle(*signed(body)))[0] == 200
    assert body["id"] in store


# --- a human step with nothing after it ---------------------------------------------------


class Sign(BaseHumanStep):
    def __init__(self) -> None:
        super().__init__("sign", "Sign the contract")


class Prepare(BaseMachineStep):
    def __init__(self) -> None:
        super().__init__("prepare", "Prepare")

    async def execute(self, context: WorkflowContext) -> None:
        return None


class SignLast:
    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name="sign_last",
            version="1",
            description="",
            steps={"prepare": Prepare(), "sign": Sign()},
            edges=[Edge("prepare", "sign")],
            initial_step="prepare",
        )


async def test_a_last_human_step_completes_the_workflow(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = DashboardEventBus(URL, TOKEN, transport=transport)
    registry = WorkflowRegistry()
    registry.register(SignLast)
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)
    bus.attach(engine)
    instance = await engine.start_workflow(SignLast)
    await wait_until(lambda: instance.status == WorkflowStatus.WAITING)
    await complete_human_task(engine, instance.id, "sign", "dana", {"signed": True})
    assert instance.status == WorkflowStatus.COMPLETED
    await asyncio.sleep(0.05)  # time for a run the engine might (wrongly) have started
    assert await bus.flush(timeout=2)
    assert dashboard.types().count("HumanTaskCreated") == 1  # not created again
    assert dashboard.types()[-1] == "WorkflowCompleted"
    await bus.aclose()


# --- the example app end to end ---------------------------------------------------------------


async def test_the_example_app_end_to_end(
    dashboard: FakeDashboard, transport: httpx.MockTransport
) -> None:
    bus = DashboardEventBus(URL, TOKEN, transport=transport)
    app = create_app(URL, TOKEN, SECRET, bus=bus)
    async with AsyncTestClient(app=app) as client:
        response = await client.post("/expenses", json={"amount": 99.5, "requester": "carol"})
        assert response.status_code == 201, response.text
        started = response.json()
        assert started["business_key"].startswith("EXP-") and started["business_key"][-4:] == "0001"
        instance_id = uuid.UUID(started["instance_id"])
        engine = app.state.engine
        instance = await engine.get_instance(instance_id)
        await wait_until(lambda: instance.status == WorkflowStatus.WAITING)
        shown = (await client.get(f"/expenses/{instance_id}")).json()
        assert (shown["status"], shown["current_step"]) == ("waiting", "approve")

        assert await bus.flush(timeout=2)
        task = dashboard.of_type("HumanTaskCreated")[0]
        body = completion(instance_id, uuid.UUID(task["task_id"]), approved=True, comment="ok")
        headers, raw = signed(body)
        response = await client.post("/dashboard/commands", content=raw, headers=headers)
        assert response.status_code == 200 and response.json()["status"] == "applied"
        await wait_until(lambda: instance.status == WorkflowStatus.COMPLETED)
        shown = (await client.get(f"/expenses/{instance_id}")).json()
        assert shown["status"] == "completed" and shown["data"]["decision"] == "approved"

        response = await client.post("/dashboard/commands", content=raw, headers=headers)
        assert response.json() == {"status": "duplicate"}
        response = await client.post("/dashboard/commands", content=raw + b" ", headers=headers)
        assert response.status_code == 401
        assert (await client.get(f"/expenses/{uuid.uuid4()}")).status_code == 404
    assert bus.pending == 0 and "WorkflowCompleted" in dashboard.types()
