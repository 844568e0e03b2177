"""An expense-approval engine app on litestar-workflows 0.3.3, connected to the dashboard.

Run it next to the dashboard (``make run`` serves that on :8000)::

    export DASHBOARD_TOKEN=$(.venv/bin/python manage.py create_ingest_token expenses-engine)
    export OUTBOX_WEBHOOK_SECRET=...   # the same secret the dashboard signs commands with
    .venv/bin/uvicorn examples.litestar_approval:app --port 8001

    curl -X POST localhost:8001/expenses -H 'Content-Type: application/json' \\
         -d '{"amount": 420.5, "requester": "carol", "purpose": "Conference travel"}'

The dashboard then shows an "Approve expense" task for the finance team; completing it
there sends a signed command to ``POST /dashboard/commands``, and the workflow records the
decision and completes.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Litestar, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, Parameter
from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
)

from integrations.litestar_workflows import DashboardCommands, DashboardEventBus

APPROVAL_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "title": "Approve this expense"},
        "comment": {"type": "string", "title": "Comment", "maxLength": 2000},
    },
    "required": ["approved"],
}


class PrepareExpense(BaseMachineStep):
    """Checks the request and works out who approves it."""

    def __init__(self) -> None:
        super().__init__("prepare", "Validate the request and pick the approver")

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        amount = float(context.get("amount") or 0)
        if amount <= 0:
            raise ValueError(f"the amount must be positive, got {amount}")
        context.set("amount", amount)
        # Large amounts go to the finance managers; otherwise the requested approver.
        if amount >= 10_000:
            context.set("approver", "finance-managers")
        return {"amount": amount, "approver": context.get("approver") or "finance"}


class ApproveExpense(BaseHumanStep):
    """The human step: a person on the dashboard approves or rejects the expense."""

    def __init__(self) -> None:
        super().__init__(
            name="approve",
            title="Approve expense",
            description="Check the amount and purpose against the expense policy, then decide.",
            form_schema=APPROVAL_FORM,
            assignee_key="approver",
        )

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        return context.get("approver") or "finance"


class RecordDecision(BaseMachineStep):
    """Records the decision (a real app would book it or notify the requester)."""

    def __init__(self) -> None:
        super().__init__("record", "Record the decision")

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        decision = "approved" if context.get("approved") else "rejected"
        context.set("decision", decision)
        context.set("decided_at", datetime.now(UTC).isoformat())
        return {"decision": decision, "decided_by": context.user_id}


class ExpenseApproval:
    """The workflow class the engine starts (0.3.3 asks it for ``get_definition()``)."""

    name = "expense_approval"
    version = "1.0.0"
    description = "An expense request: prepare, approve on the dashboard, record."
    definition = WorkflowDefinition(
        name=name,
        version=version,
        description=description,
        steps={
            "prepare": PrepareExpense(),
            "approve": ApproveExpense(),
            "record": RecordDecision(),
        },
        edges=[Edge("prepare", "approve"), Edge("approve", "record")],
        initial_step="prepare",
        terminal_steps={"record"},
    )

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return cls.definition


def _instance_view(instance: Any) -> dict[str, Any]:
    return {
        "instance_id": str(instance.id),
        "workflow": f"{instance.workflow_name} {instance.workflow_version}",
        "status": str(instance.status),
        "current_step": instance.current_step,
        "error": instance.error,
        "started_at": instance.started_at.isoformat(),
        "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
        "data": instance.context.data,
        "history": [
            {
                "step": h.step_name,
                "status": str(h.status),
                "started_at": h.started_at.isoformat() if h.started_at else None,
                "completed_at": h.completed_at.isoformat() if h.completed_at else None,
                "error": h.error,
            }
            for h in instance.context.step_history
        ],
    }


def create_app(
    dashboard_url: str, token: str, secret: str, *, bus: DashboardEventBus | None = None
) -> Litestar:
    """The engine app; ``bus`` lets tests inject one with a fake transport."""
    registry = WorkflowRegistry()
    registry.register(ExpenseApproval)
    bus = bus or DashboardEventBus(dashboard_url, token)
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)
    bus.attach(engine)
    commands = DashboardCommands(engine, secret=secret)
    numbers = itertools.count(1)

    @post("/expenses", status_code=201)
    async def start_expense(
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.JSON)],
    ) -> dict[str, Any]:
        try:
            amount = float(data["amount"])
            requester = str(data["requester"])
        except (KeyError, TypeError, ValueError):
            raise ValidationException("send {'amount': number, 'requester': name}") from None
        key = data.get("business_key") or f"EXP-{datetime.now(UTC).year}-{next(numbers):04d}"
        initial = {
            "business_key": key,
            "amount": amount,
            "requester": requester,
            "purpose": str(data.get("purpose") or ""),
            "approver": data.get("approver") or "finance",
        }
        instance = await engine.start_workflow(ExpenseApproval, initial_data=initial)
        return {"instance_id": str(instance.id), "business_key": key, "status": "started"}

    @get("/expenses/{instance_id:uuid}")
    async def show_expense(instance_id: Annotated[uuid.UUID, Parameter()]) -> dict[str, Any]:
        try:
            instance = await engine.get_instance(instance_id)
        except KeyError:
            raise NotFoundException(f"no expense workflow {instance_id}") from None
        return _instance_view(instance)

    @post("/dashboard/commands")
    async def dashboard_commands(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        status, body = await commands.handle(dict(request.headers), await request.body())
        return Response(content=body, status_code=status)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await bus.aclose(timeout=5.0)

    app = Litestar(
        route_handlers=[start_expense, show_expense, dashboard_commands], lifespan=[lifespan]
    )
    app.state.engine = engine
    app.state.bus = bus
    app.state.commands = commands
    return app


def _secret_from_env() -> str:
    secret = os.environ.get("OUTBOX_WEBHOOK_SECRET", "")
    if not secret:
        # Without the shared secret no command can be verified: refuse them all.
        logging.getLogger(__name__).warning(
            "OUTBOX_WEBHOOK_SECRET is not set: every dashboard command will be refused (401)"
        )
        secret = secrets.token_hex(32)
    return secret


app = create_app(
    os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8000"),
    os.environ.get("DASHBOARD_TOKEN", ""),
    _secret_from_env(),
)
