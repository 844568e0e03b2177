"""Realistic workflow event streams for the demo users and teams.

Three kinds of workflow (expense approval, document review, employee onboarding) are
scripted as the events an engine would send, with parallel steps, failures, retries,
skipped steps, reassignments, pauses and overdue tasks. ``generate`` lays whole workflows
over the last few days up to ``now``; ``LiveFeed`` plays them out in real time. Both are
deterministic for a seed (and ``now``) and neither touches the database: the ``simulate``
command sends what they make through ``ingest_events`` like any engine.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("expense_approval", "document_review", "employee_onboarding")
OUTCOMES = ("open", "completed", "failed", "canceled", "paused")
# Share of each outcome in a batch: most workflows still wait on someone.
_OUTCOME_WEIGHTS = {"open": 9, "completed": 6, "failed": 2, "canceled": 2, "paused": 1}

# Demo people who can hold tasks, by team (see demo.users); erin is the manager.
TEAM_MEMBERS = {
    "finance": ("alice", "bob"),
    "legal": ("bob",),
    "hr": ("carol", "dave"),
    "it": ("dave",),
}
MANAGER = "erin"
ADMIN = "admin"
# Assignees that match no user or group: their tasks land in the Unrouted queue.
UNKNOWN_ASSIGNEES = ("procurement", "compliance-team", "frank", "user:gina.p", "facilities")
EMPLOYEES = ("alice", "bob", "carol", "dave", "frank", "gina.p", "hugo", "ines")
NEW_HIRES = (
    ("Priya Raman", "Backend engineer", "it"),
    ("Tomás Silva", "Accountant", "finance"),
    ("Lena Vogel", "HR generalist", "hr"),
    ("Marcus Reed", "Contracts counsel", "legal"),
    ("Yuki Tanaka", "Support engineer", "it"),
    ("Olu Adeyemi", "Financial analyst", "finance"),
)
DOCUMENTS = (
    ("Master services agreement: Acme Logistics", "contract"),
    ("Data processing addendum: Brightwave", "contract"),
    ("Remote work policy 2027", "policy"),
    ("Travel and expenses policy", "policy"),
    ("NDA: Northwind Traders", "contract"),
    ("Vendor security questionnaire: Globex", "questionnaire"),
)
EXPENSE_CATEGORIES = ("travel", "meals", "software", "hardware", "training", "consulting")


# --- form schemas (JSON Schema for the completion forms) ----------------------------------


def expense_decision_schema(amount: float) -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Expense decision",
        "required": ["decision", "amount_approved", "receipts_checked"],
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "enum": ["approve", "reject", "request_changes"],
                "default": "approve",
            },
            "amount_approved": {
                "type": "number",
                "title": "Amount approved (EUR)",
                "minimum": 0,
                "maximum": round(amount, 2),
                "default": round(amount, 2),
                "description": "May be lower than the amount claimed.",
            },
            "cost_center": {
                "type": "string",
                "title": "Cost center",
                "enum": ["CC-100 Operations", "CC-200 Sales", "CC-300 R&D", "CC-400 Admin"],
            },
            "installments": {
                "type": "integer",
                "title": "Installments",
                "minimum": 1,
                "maximum": 12,
                "default": 1,
            },
            "payment_date": {"type": "string", "format": "date", "title": "Pay on"},
            "receipts_checked": {
                "type": "boolean",
                "title": "Receipts checked",
                "default": False,
                "description": "Every receipt matches a line of the report.",
            },
            "notify": {"type": "string", "format": "email", "title": "Also notify"},
            "notes": {
                "type": "string",
                "title": "Notes for the employee",
                "maxLength": 2000,
                "description": "Shown to the employee with the decision.",
            },
        },
    }


DOCUMENT_REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Review",
    "required": ["verdict", "risk_level"],
    "properties": {
        "verdict": {
            "type": "string",
            "title": "Verdict",
            "enum": ["approve", "changes_requested", "reject"],
        },
        "risk_level": {
            "type": "string",
            "title": "Risk level",
            "enum": ["low", "medium", "high"],
            "default": "low",
        },
        "pages_reviewed": {"type": "integer", "title": "Pages reviewed", "minimum": 1},
        "effective_date": {"type": "string", "format": "date", "title": "Effective from"},
        "requires_signature": {"type": "boolean", "title": "Needs a wet signature"},
        "counterparty_email": {
            "type": "string",
            "format": "email",
            "title": "Counterparty contact",
        },
        "findings": {
            "type": "string",
            "title": "Findings",
            "maxLength": 5000,
            "description": "Clauses to change and why.",
        },
    },
}

REVISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Revision",
    "required": ["summary"],
    "properties": {
        "summary": {
            "type": "string",
            "title": "What changed",
            "maxLength": 4000,
            "description": "Summarise the edits for the reviewers.",
        },
        "version_label": {"type": "string", "title": "Version label", "default": "v2"},
    },
}

HR_PAPERWORK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "HR paperwork",
    "required": ["contract_type", "start_date", "documents_received"],
    "properties": {
        "contract_type": {
            "type": "string",
            "title": "Contract",
            "enum": ["permanent", "fixed_term", "contractor", "intern"],
            "default": "permanent",
        },
        "start_date": {"type": "string", "format": "date", "title": "First day"},
        "personal_email": {"type": "string", "format": "email", "title": "Personal email"},
        "probation_months": {
            "type": "integer",
            "title": "Probation (months)",
            "minimum": 0,
            "maximum": 6,
            "default": 3,
        },
        "salary": {"type": "number", "title": "Annual salary (EUR)", "minimum": 20000},
        "documents_received": {
            "type": "boolean",
            "title": "Signed contract and ID received",
            "default": False,
        },
        "notes": {"type": "string", "title": "Notes", "maxLength": 2000},
    },
}

IT_ACCOUNT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Accounts",
    "required": ["username", "laptop"],
    "properties": {
        "username": {
            "type": "string",
            "title": "Username",
            "minLength": 3,
            "maxLength": 32,
            "description": "Lower case, no spaces.",
        },
        "laptop": {
            "type": "string",
            "title": "Laptop",
            "enum": ["MacBook Pro 14", "ThinkPad X1", "Dell XPS 13"],
        },
        "vpn_access": {"type": "boolean", "title": "VPN access", "default": True},
        "admin_rights": {"type": "boolean", "title": "Local admin rights", "default": False},
        "ready_by": {"type": "string", "format": "date", "title": "Ready by"},
    },
}

EQUIPMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Equipment",
    "required": ["monitors"],
    "properties": {
        "monitors": {
            "type": "integer",
            "title": "Monitors",
            "minimum": 0,
            "maximum": 3,
            "default": 1,
        },
        "headset": {"type": "boolean", "title": "Headset", "default": True},
        "budget": {"type": "number", "title": "Budget (EUR)", "minimum": 0, "maximum": 5000},
        "shipping_address": {
            "type": "string",
            "title": "Shipping address",
            "maxLength": 500,
            "description": "Leave empty to collect on site.",
        },
    },
}

WELCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Welcome meeting",
    "required": ["meeting_date"],
    "properties": {
        "meeting_date": {"type": "string", "format": "date", "title": "Meeting date"},
        "buddy": {"type": "string", "title": "Onboarding buddy"},
        "agenda": {"type": "string", "title": "Agenda", "maxLength": 1000},
    },
}


# --- scripts ---------------------------------------------------------------------------------


@dataclass
class Planned:
    """One event of a script, placed ``offset`` seconds after the workflow started.

    ``due`` places a task's deadline: ("after", s) after its creation, or ("now", s)
    relative to the moment the workflow is laid out (negative: already overdue).
    """

    offset: float
    type: str
    fields: dict[str, Any]
    event_id: uuid.UUID
    due: tuple[str, float] | None = None


@dataclass
class Workflow:
    kind: str
    outcome: str
    instance_id: uuid.UUID
    events: list[Planned] = field(default_factory=list)


HOUR = 3600.0
DAY = 24 * HOUR


class _Stop(Exception):
    """The script reached the point its outcome ends at."""


class _Script:
    """Builds one workflow's events on a clock of seconds since its start."""

    def __init__(self, sim: Simulator, kind: str, outcome: str):
        self.sim = sim
        self.rng = sim.rng
        self.kind = kind
        self.outcome = outcome
        self.wf = Workflow(kind=kind, outcome=outcome, instance_id=sim.uuid())
        self.started = 0.0
        # Which human stage an unfinished outcome (open, canceled, paused) stops at.
        self.stop_stage = 0
        self.stage = 0

    # -- primitives --

    def emit(
        self, t: float, type_: str, due: tuple[str, float] | None = None, **fields: Any
    ) -> float:
        self.wf.events.append(
            Planned(
                offset=t,
                type=type_,
                fields={"instance_id": str(self.wf.instance_id), **fields},
                event_id=self.sim.uuid(),
                due=due,
            )
        )
        return t

    def later(self, t: float, low: float, high: float) -> float:
        return t + self.rng.uniform(low, high)

    def human_wait(self) -> float:
        # People answer within minutes to a working day, occasionally much later.
        return min(self.rng.expovariate(1 / (3 * HOUR)), 20 * HOUR) + 300

    # -- steps --

    def machine(
        self,
        t: float,
        name: str,
        *,
        result: Any = None,
        output: dict[str, Any] | None = None,
        input_data: dict[str, Any] | None = None,
        retry_chance: float = 0.0,
        errors: Sequence[tuple[str, str]] = (("Connection timed out", "TimeoutError"),),
        fail: bool = False,
    ) -> float:
        """A machine step; it may fail and be retried, and with ``fail`` it gives up."""
        t = self.emit(t, "StepStarted", step_name=name, step_type="MACHINE", input_data=input_data)
        attempts = (
            3 if fail else (self.rng.choice((1, 1, 2)) if self.rng.random() < retry_chance else 0)
        )
        for retry in range(attempts):
            error, error_type = self.rng.choice(list(errors))
            t = self.emit(
                self.later(t, 1, 40),
                "StepFailed",
                step_name=name,
                error=error,
                error_type=error_type,
                retry_count=retry,
            )
            if fail and retry == attempts - 1:
                raise _Failed(t, name, error, error_type)
            # Back off before retrying, as engines do.
            t = self.emit(
                self.later(t, 5 * 2**retry, 30 * 2**retry),
                "StepStarted",
                step_name=name,
                step_type="MACHINE",
                input_data=input_data,
            )
        duration = self.rng.uniform(0.2, 25)
        return self.emit(
            t + duration + 0.001,
            "StepCompleted",
            step_name=name,
            status=self.rng.choice(("SUCCEEDED", "succeeded", "COMPLETED")),
            result=result,
            output_data=output,
            duration_seconds=round(duration, 3),
        )

    def skip(self, t: float, name: str, reason: str) -> float:
        return self.emit(self.later(t, 0.5, 5), "StepSkipped", step_name=name, reason=reason)

    def task(
        self,
        t: float,
        name: str,
        *,
        title: str,
        description: str,
        users: Sequence[str],
        group: str,
        schema: dict[str, Any],
        form_data: Callable[[], dict[str, Any]],
        priority: int = 0,
        leave_open: bool = False,
        comment: str | None = None,
    ) -> float:
        """A human step: created, perhaps reassigned, and completed unless left open."""
        t = self.emit(t, "StepStarted", step_name=name, step_type="HUMAN")
        task_id = self.sim.uuid()
        # A canceled workflow's tasks close at once: they do not count towards inboxes.
        assignee = self.sim.pick_assignee(
            users, group, leave_open=leave_open and self.outcome != "canceled"
        )
        reassign_to = None
        if self.rng.random() < 0.18:
            # Someone was away, or the engine routed it wrongly: create for another, then move.
            reassign_to = assignee
            assignee = self.rng.choice([*users, *UNKNOWN_ASSIGNEES[:2]])
            if assignee == reassign_to:
                assignee = group
            if assignee == reassign_to:
                assignee, reassign_to = reassign_to, None
        due: tuple[str, float] | None
        if leave_open:
            roll = self.rng.random()
            if roll < 0.45:
                due = ("now", -self.rng.uniform(HOUR, 2 * DAY))  # overdue
            elif roll < 0.85:
                due = ("now", self.rng.uniform(2 * HOUR, 4 * DAY))
            else:
                due = None
        else:
            due = ("after", self.rng.choice((8, 24, 48, 72)) * HOUR)
        t = self.emit(
            self.later(t, 0.1, 2),
            "HumanTaskCreated",
            due=due,
            step_name=name,
            task_id=str(task_id),
            assignee=assignee,
            title=title,
            description=description,
            form_schema=schema,
            priority=priority,
        )
        final_assignee = assignee
        if reassign_to is not None:
            final_assignee = reassign_to
            t = self.emit(
                self.later(t, 10 * 60, 3 * HOUR),
                "HumanTaskReassigned",
                step_name=name,
                task_id=str(task_id),
                from_assignee=assignee,
                to_assignee=reassign_to,
                reassigned_by=self.rng.choice((ADMIN, *users)),
                reason=self.rng.choice(
                    (
                        f"{assignee} is on leave this week",
                        "Wrong team: routing rule fixed",
                        "Balancing the queue",
                    )
                ),
            )
        if leave_open:
            return t
        completer = self.sim.completer(final_assignee, users)
        t = self.emit(
            t + self.human_wait(),
            "HumanTaskCompleted",
            step_name=name,
            task_id=str(task_id),
            completed_by=completer,
            form_data=form_data(),
            comment=comment if comment is not None else self._comment(),
        )
        return self.emit(self.later(t, 0.2, 3), "StepCompleted", step_name=name, status="COMPLETED")

    def _comment(self) -> str | None:
        return self.rng.choice((None, None, "Looks good.", "Checked with the requester.", "OK"))

    def human_stage(self) -> bool:
        """Enter the next human stage; True when an unfinished outcome stops here."""
        self.stage += 1
        return self.outcome in ("open", "canceled", "paused") and self.stage == self.stop_stage

    def end_unfinished(self, t: float, step: str) -> None:
        """Close a stopped script as its outcome says: tasks left open, canceled or paused."""
        if self.outcome == "canceled":
            self.emit(
                t + self.human_wait(),
                "WorkflowCanceled",
                reason=self.rng.choice(
                    (
                        "Request withdrawn by the requester",
                        "Duplicate of another request",
                        "Budget frozen for this quarter",
                    )
                ),
                canceled_by=self.rng.choice((ADMIN, MANAGER)),
                current_step=step,
            )
        elif self.outcome == "paused":
            self.emit(
                self.later(t, 15 * 60, 4 * HOUR),
                "WorkflowPaused",
                reason=self.rng.choice(
                    ("Awaiting budget confirmation", "Requester on holiday", "Audit in progress")
                ),
                paused_at_step=step,
            )
        raise _Stop

    def start(self, name: str, version: str, initial_data: dict[str, Any], user: str) -> float:
        return self.emit(
            0.0,
            "WorkflowStarted",
            workflow_name=name,
            workflow_version=version,
            initial_data=initial_data,
            user_id=user,
            tenant_id="acme",
        )

    def complete(self, t: float, final_step: str, status: str = "COMPLETED") -> None:
        end = self.later(t, 0.5, 5)
        self.emit(
            end,
            "WorkflowCompleted",
            status=status,
            final_step=final_step,
            duration_seconds=round(end - self.started, 3),
        )

    def maybe_pause_and_resume(self, t: float, step: str) -> float:
        """Now and then an admin pauses a running workflow and resumes it later."""
        if self.outcome != "completed" or self.rng.random() > 0.2:
            return t
        t = self.emit(
            self.later(t, 60, HOUR),
            "WorkflowPaused",
            reason="Waiting for the quarter-end close",
            paused_at_step=step,
        )
        return self.emit(
            self.later(t, HOUR, 6 * HOUR),
            "WorkflowResumed",
            resumed_by=ADMIN,
            resuming_at_step=step,
        )


class _Failed(Exception):
    def __init__(self, t: float, step: str, error: str, error_type: str):
        self.t, self.step, self.error, self.error_type = t, step, error, error_type


def _date(rng: random.Random, now: datetime, low_days: int, high_days: int) -> str:
    return (now + timedelta(days=rng.randint(low_days, high_days))).date().isoformat()


# --- the three workflows ---------------------------------------------------------------------


def _expense(s: _Script) -> None:
    rng, now = s.rng, s.sim.now
    submitter = rng.choice(EMPLOYEES)
    amount = round(
        rng.choice((rng.uniform(12, 900), rng.uniform(900, 4800), rng.uniform(5200, 18000))), 2
    )
    category = rng.choice(EXPENSE_CATEGORIES)
    report = f"EXP-2026-{rng.randint(100, 9999):04d}"
    s.stop_stage = rng.randint(1, 2 if amount > 5000 else 1)
    t = s.start(
        "expense_approval",
        "2.3.0",
        {
            "report_id": report,
            "employee": submitter,
            "amount": amount,
            "currency": "EUR",
            "category": category,
            "receipts": rng.randint(1, 9),
        },
        submitter,
    )
    t = s.machine(
        s.later(t, 1, 5),
        "validate_receipts",
        input_data={"report_id": report},
        result={"valid": True, "receipts": rng.randint(1, 9)},
        retry_chance=0.1,
        errors=(("OCR service unavailable", "ServiceUnavailable"),),
    )
    t = s.machine(
        s.later(t, 1, 5),
        "policy_check",
        result={"within_policy": amount < 10000, "rules_checked": 14},
    )
    large = amount > 5000

    def decision() -> dict[str, Any]:
        return {
            "decision": "approve",
            "amount_approved": amount,
            "cost_center": rng.choice(("CC-100 Operations", "CC-300 R&D")),
            "installments": 1,
            "payment_date": _date(rng, now, 1, 10),
            "receipts_checked": True,
        }

    stop = s.human_stage()
    t = s.task(
        s.later(t, 1, 10),
        "finance_approval",
        title=f"Approve expense {report}: {amount:,.2f} EUR ({category})",
        description=f"{submitter} claims {amount:,.2f} EUR for {category}. Check the receipts "
        "against the travel and expenses policy, then approve, reject or ask for changes.",
        users=TEAM_MEMBERS["finance"],
        group="finance",
        schema=expense_decision_schema(amount),
        form_data=decision,
        priority=2 if amount > 10000 else (1 if large else 0),
        leave_open=stop,
    )
    if stop:
        s.end_unfinished(t, "finance_approval")

    if large:
        stop = s.human_stage()
        if category in ("consulting", "software"):
            t = s.task(
                s.later(t, 1, 10),
                "legal_review",
                title=f"Legal check: {category} contract behind {report}",
                description="Large consulting and software spend needs a contract on file. "
                "Confirm one exists and its terms cover this invoice.",
                users=TEAM_MEMBERS["legal"],
                group="legal",
                schema=DOCUMENT_REVIEW_SCHEMA,
                form_data=lambda: {"verdict": "approve", "risk_level": "low"},
                priority=1,
                leave_open=stop,
            )
        else:
            t = s.task(
                s.later(t, 1, 10),
                "manager_approval",
                title=f"Manager sign-off for {report}: {amount:,.2f} EUR",
                description="Expenses over 5,000 EUR need a manager's sign-off.",
                users=(MANAGER,),
                group="Managers",
                schema=expense_decision_schema(amount),
                form_data=decision,
                priority=2,
                leave_open=stop,
            )
        if stop:
            s.end_unfinished(t, "manager_approval")
    else:
        t = s.skip(
            t, "manager_approval", f"{amount:,.2f} EUR is under the 5,000 EUR sign-off threshold"
        )
    t = s.maybe_pause_and_resume(t, "schedule_payment")

    try:
        t = s.machine(
            s.later(t, 5, 60),
            "schedule_payment",
            input_data={"amount": amount, "currency": "EUR", "payee": submitter},
            result={"payment_id": f"PAY-{rng.randint(10000, 99999)}"},
            retry_chance=0.45,
            errors=(
                ("Payment gateway timed out after 30s", "PaymentGatewayTimeout"),
                ("HTTP 503 from bank API", "BankAPIError"),
            ),
            fail=s.outcome == "failed",
        )
    except _Failed as failed:
        _fail_workflow(s, failed)
        return
    if rng.random() < 0.3:
        t = s.skip(t, "notify_employee", f"{submitter} opted out of email notifications")
        s.complete(t, "schedule_payment")
    else:
        t = s.machine(s.later(t, 1, 5), "notify_employee", result={"sent": True})
        s.complete(t, "notify_employee")


def _review(s: _Script) -> None:
    rng, now = s.rng, s.sim.now
    title, doc_kind = rng.choice(DOCUMENTS)
    author = rng.choice(EMPLOYEES)
    doc_id = f"DOC-{rng.randint(1000, 9999)}"
    pages = rng.randint(3, 60)
    revise = rng.random() < 0.45
    s.stop_stage = rng.randint(1, 3 if revise else 2)
    t = s.start(
        "document_review",
        "1.4.2",
        {"document_id": doc_id, "title": title, "kind": doc_kind, "author": author, "pages": pages},
        author,
    )
    t = s.machine(
        s.later(t, 1, 5),
        "extract_text",
        result={"pages": pages, "language": "en"},
        retry_chance=0.15,
        errors=(("PDF is encrypted; retrying with the stored key", "PDFDecryptError"),),
    )

    def review(verdict: str) -> Callable[[], dict[str, Any]]:
        return lambda: {
            "verdict": verdict,
            "risk_level": rng.choice(("low", "medium", "high")),
            "pages_reviewed": pages,
            "effective_date": _date(rng, now, 5, 40),
            "requires_signature": rng.random() < 0.3,
            "counterparty_email": "legal@" + rng.choice(("acme.example", "globex.example")),
            "findings": "Clause 7.2 (liability cap) is below our minimum; ask for 2x fees."
            if verdict == "changes_requested"
            else "No blocking findings.",
        }

    stop = s.human_stage()
    t = s.task(
        s.later(t, 1, 10),
        "legal_review",
        title=f"Legal review: {title}",
        description=f"{pages} pages from {author}. Check liability, termination and data "
        "protection clauses; request changes if anything blocks signature.",
        users=TEAM_MEMBERS["legal"],
        group="legal",
        schema=DOCUMENT_REVIEW_SCHEMA,
        form_data=review("changes_requested" if revise else "approve"),
        priority=1 if doc_kind == "contract" else 0,
        leave_open=stop,
    )
    if stop:
        s.end_unfinished(t, "legal_review")

    if revise:
        stop = s.human_stage()
        t = s.task(
            s.later(t, 1, 10),
            "revise_document",
            title=f"Revise {doc_id} after legal review",
            description="Legal asked for changes; see the review findings.",
            users=(author,) if author in ("alice", "bob", "carol", "dave") else ("bob",),
            group=author if author not in ("alice", "bob", "carol", "dave") else "legal",
            schema=REVISION_SCHEMA,
            form_data=lambda: {
                "summary": "Raised the liability cap to 2x fees.",
                "version_label": "v2",
            },
            leave_open=stop,
        )
        if stop:
            s.end_unfinished(t, "revise_document")
        # The second round runs the same step again: a second attempt in the step history.
        t = s.task(
            s.later(t, 1, 10),
            "legal_review",
            title=f"Legal review (round 2): {title}",
            description="The author revised the document; confirm the changes.",
            users=TEAM_MEMBERS["legal"],
            group="legal",
            schema=DOCUMENT_REVIEW_SCHEMA,
            form_data=review("approve"),
            priority=1,
        )

    # Finance and HR review in parallel; compliance only for contracts, and nobody by
    # that name exists here, so its task is unrouted.
    stop = s.human_stage()
    fork = s.later(t, 1, 10)
    ends = [
        s.task(
            fork + 0.01,
            "finance_review",
            title=f"Finance review: {title}",
            description="Check payment terms, penalties and the budget owner.",
            users=TEAM_MEMBERS["finance"],
            group="finance",
            schema=DOCUMENT_REVIEW_SCHEMA,
            form_data=review("approve"),
            leave_open=stop,
        ),
        s.task(
            fork + 0.02,
            "hr_review",
            title=f"HR review: {title}",
            description="Check anything that touches staff, contractors or personal data.",
            users=TEAM_MEMBERS["hr"],
            group="hr",
            schema=DOCUMENT_REVIEW_SCHEMA,
            form_data=review("approve"),
            leave_open=stop,
        ),
    ]
    if stop:
        s.end_unfinished(max(ends), "finance_review")
    t = max(ends)
    t = s.maybe_pause_and_resume(t, "publish_document")
    try:
        t = s.machine(
            s.later(t, 2, 30),
            "publish_document",
            result={"url": f"https://docs.example/{doc_id}", "version": 2 if revise else 1},
            retry_chance=0.2,
            errors=(("Document store returned HTTP 502", "StorageError"),),
            fail=s.outcome == "failed",
        )
    except _Failed as failed:
        _fail_workflow(s, failed)
        return
    if doc_kind == "policy":
        t = s.machine(s.later(t, 1, 5), "archive_copy", result={"archived": True})
    else:
        t = s.skip(t, "archive_copy", f"{doc_kind} documents are archived by the contract system")
    s.complete(t, "publish_document")


def _onboarding(s: _Script) -> None:
    rng, now = s.rng, s.sim.now
    name, role, team = rng.choice(NEW_HIRES)
    remote = rng.random() < 0.5
    start_date = _date(rng, now, 3, 30)
    s.stop_stage = rng.randint(1, 3)
    email = name.lower().replace(" ", ".").replace("á", "a") + "@example.com"
    t = s.start(
        "employee_onboarding",
        "3.0.1",
        {
            "employee_name": name,
            "role": role,
            "team": team,
            "start_date": start_date,
            "remote": remote,
            "email": email,
        },
        rng.choice(("carol", "dave")),
    )
    t = s.machine(
        s.later(t, 1, 5), "create_employee_record", result={"employee_id": rng.randint(1000, 9999)}
    )

    # IT accounts and HR paperwork run in parallel; the background check beside them.
    stop = s.human_stage()
    fork = s.later(t, 1, 10)
    it_end = s.task(
        fork + 0.01,
        "it_account_setup",
        title=f"Create accounts for {name}",
        description=f"{role}, starts {start_date}. Directory account, email, VPN and laptop.",
        users=TEAM_MEMBERS["it"],
        group="it",
        schema=IT_ACCOUNT_SCHEMA,
        form_data=lambda: {
            "username": email.split("@")[0].replace(".", "")[:20],
            "laptop": rng.choice(("MacBook Pro 14", "ThinkPad X1")),
            "vpn_access": remote,
            "admin_rights": False,
            "ready_by": start_date,
        },
        priority=1,
        leave_open=stop,
    )
    hr_end = s.task(
        fork + 0.02,
        "hr_paperwork",
        title=f"Contract and paperwork: {name}",
        description="Collect the signed contract, ID and bank details; register for payroll.",
        users=TEAM_MEMBERS["hr"],
        group="hr",
        schema=HR_PAPERWORK_SCHEMA,
        form_data=lambda: {
            "contract_type": rng.choice(("permanent", "fixed_term")),
            "start_date": start_date,
            "personal_email": "new.hire@mail.example",
            "probation_months": 3,
            "salary": float(rng.randrange(42000, 90000, 1000)),
            "documents_received": True,
        },
        leave_open=stop,
    )
    if rng.random() < 0.4:
        bg_end = s.skip(fork, "background_check", "internal transfer: already checked")
    else:
        bg_end = s.machine(
            fork + 0.03,
            "background_check",
            result={"clear": True},
            retry_chance=0.2,
            errors=(("Checkr API rate limit", "RateLimited"),),
        )
    if stop:
        s.end_unfinished(max(it_end, hr_end, bg_end), "it_account_setup")
    try:
        it_end = s.machine(
            s.later(it_end, 1, 10),
            "provision_email",
            result={"mailbox": email},
            retry_chance=0.5,
            errors=(
                ("LDAP bind timed out", "LDAPTimeout"),
                ("Mailbox quota service down", "HTTPError"),
            ),
            fail=s.outcome == "failed",
        )
    except _Failed as failed:
        _fail_workflow(s, failed)
        return
    t = max(it_end, hr_end, bg_end)

    stop = s.human_stage()
    t = s.task(
        s.later(t, 1, 10),
        "equipment_order",
        title=f"Order equipment for {name}",
        description=("Ship to their home address." if remote else "Collect on site.")
        + " Laptop, monitors and a headset within budget.",
        users=TEAM_MEMBERS["it"],
        group="it",
        schema=EQUIPMENT_SCHEMA,
        form_data=lambda: {"monitors": rng.randint(1, 2), "headset": True, "budget": 1800.0},
        leave_open=stop,
    )
    if stop:
        s.end_unfinished(t, "equipment_order")
    if remote:
        t = s.machine(s.later(t, 60, HOUR), "ship_equipment", result={"tracking": "1Z999AA10123"})
    else:
        t = s.skip(t, "ship_equipment", "on-site hire collects equipment at the office")
    t = s.maybe_pause_and_resume(t, "welcome_meeting")
    stop = s.human_stage()
    t = s.task(
        s.later(t, 1, 10),
        "welcome_meeting",
        title=f"Welcome meeting with {name}",
        description="Book the first-day welcome and introduce their onboarding buddy.",
        users=TEAM_MEMBERS["hr"],
        group="hr",
        schema=WELCOME_SCHEMA,
        form_data=lambda: {"meeting_date": start_date, "buddy": rng.choice(EMPLOYEES)},
        leave_open=stop,
    )
    if stop:
        s.end_unfinished(t, "welcome_meeting")
    s.complete(t, "welcome_meeting")


def _fail_workflow(s: _Script, failed: _Failed) -> None:
    s.emit(
        s.later(failed.t, 0.1, 2),
        "WorkflowFailed",
        error=f"{failed.step} failed after 3 attempts: {failed.error}",
        failed_step=failed.step,
        error_type=failed.error_type,
        stack_trace=(
            "Traceback (most recent call last):\n"
            f'  File "engine/steps.py", line 212, in run\n    result = await step.execute(ctx)\n'
            f'  File "steps/{failed.step}.py", line 48, in execute\n'
            f"    raise {failed.error_type}({failed.error!r})\n"
            f"{failed.error_type}: {failed.error}"
        ),
    )


_BUILDERS: dict[str, Callable[[_Script], None]] = {
    "expense_approval": _expense,
    "document_review": _review,
    "employee_onboarding": _onboarding,
}


# --- the simulator ---------------------------------------------------------------------------


class Simulator:
    """Builds workflows from one seeded random stream, so a seed repeats a run exactly."""

    def __init__(self, *, seed: int | None = None, now: datetime | None = None):
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.rng = random.Random(self.seed)
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        # Ids come from their own stream, seeded with the seed and ``now``: the same seed
        # later makes the same story at other times, so it must not reuse the event ids
        # (ingest refuses an event id reused for different content).
        self.ids = random.Random(f"{self.seed}/{self.now.isoformat()}")
        self.count = 0
        # Open tasks handed out per demo user, so every inbox gets its share.
        self.open_load: Counter[str] = Counter()
        self.group_load: Counter[str] = Counter()
        self.open_tasks = 0

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.ids.getrandbits(128), version=4)

    def pick_assignee(self, users: Sequence[str], group: str, *, leave_open: bool) -> str:
        """A user, a team, or now and then nobody known; open tasks go round fairly."""
        if leave_open:
            # A fixed rhythm rather than chance, so even a small run has every case.
            self.open_tasks += 1
            turn = self.open_tasks % 8
            if turn == 5:
                return self.rng.choice(UNKNOWN_ASSIGNEES)
            least = min(self.open_load[u] for u in users)
            # Every inbox, then every team queue, gets a couple before the rhythm takes over.
            if least >= 2 and (self.group_load[group] < 2 or turn in (2, 7)):
                self.group_load[group] += 1
                return self.rng.choice((group, f"group:{group}"))
            user = self.rng.choice([u for u in users if self.open_load[u] == least])
            self.open_load[user] += 1
            return user
        roll = self.rng.random()
        if roll < 0.05:
            return self.rng.choice(UNKNOWN_ASSIGNEES)
        if roll < 0.4:
            return group
        return self.rng.choice(list(users))

    def completer(self, assignee: str, users: Sequence[str]) -> str:
        name = assignee.split(":", 1)[-1]
        if name in users:
            return name
        return self.rng.choice(list(users))

    def outcome_plan(self, n: int) -> list[str]:
        """Outcomes for ``n`` workflows in the usual shares, each present once n allows."""
        total = sum(_OUTCOME_WEIGHTS.values())
        counts = Counter({o: max(1, round(n * w / total)) for o, w in _OUTCOME_WEIGHTS.items()})
        while sum(counts.values()) > n:
            # Trim the most common outcome first, so the rare ones survive small runs.
            counts[counts.most_common(1)[0][0]] -= 1
        counts["open"] += n - sum(counts.values())
        plan = [o for o in OUTCOMES for _ in range(counts[o])]
        self.rng.shuffle(plan)
        return plan

    def workflow(self, kind: str, outcome: str) -> Workflow:
        """One workflow of this kind, scripted up to its outcome."""
        script = _Script(self, kind, outcome)
        # An unfinished outcome stops its script part way through.
        with contextlib.suppress(_Stop):
            _BUILDERS[kind](script)
        self.count += 1
        return script.wf

    def workflows(self, n: int) -> list[Workflow]:
        plan = self.outcome_plan(n)
        return [self.workflow(KINDS[i % len(KINDS)], plan[i]) for i in range(n)]


def _wire(planned: Planned, timestamp: datetime, due_at: datetime | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": planned.type,
        "event_id": str(planned.event_id),
        "timestamp": timestamp.isoformat(),
    }
    obj.update({k: v for k, v in planned.fields.items() if v is not None})
    if due_at is not None:
        obj["due_at"] = due_at.isoformat()
    return obj


def lay_out(
    wf: Workflow, *, rng: random.Random, now: datetime, window: timedelta
) -> list[dict[str, Any]]:
    """Place a workflow in the ``window`` before ``now``, ending no later than now."""
    span = max(p.offset for p in wf.events)
    window_s = window.total_seconds()
    # Unfinished workflows may have their last event a minute ago; finished ones ended earlier.
    latest_end = 60.0 if wf.outcome in ("open", "paused") else 15 * 60.0
    end_ago = rng.uniform(latest_end, max(latest_end, window_s - min(span, window_s * 0.6)))
    start = now - timedelta(seconds=end_ago + span)
    out = []
    for p in wf.events:
        ts = start + timedelta(seconds=p.offset)
        out.append(_wire(p, ts, _due(p, ts, now)))
    return out


def _due(p: Planned, ts: datetime, now: datetime) -> datetime | None:
    if p.due is None:
        return None
    kind, seconds = p.due
    if kind == "after":
        return ts + timedelta(seconds=seconds)
    due = now + timedelta(seconds=seconds)
    # A deadline before the task existed reads as a bug; keep it at least 30 minutes after.
    return max(due, ts + timedelta(minutes=30))


@dataclass
class Batch:
    """Workflows laid out over the last few days, and their events in timestamp order."""

    seed: int
    workflows: list[Workflow]
    events: list[dict[str, Any]]

    def counts(self) -> dict[str, Counter[str]]:
        return {
            "kind": Counter(w.kind for w in self.workflows),
            "outcome": Counter(w.outcome for w in self.workflows),
        }


def generate(
    *,
    workflows: int,
    seed: int | None = None,
    now: datetime | None = None,
    window: timedelta = timedelta(days=4),
) -> Batch:
    """``workflows`` workflows spread over ``window`` up to ``now``, as wire objects."""
    sim = Simulator(seed=seed, now=now)
    built = sim.workflows(workflows)
    events: list[dict[str, Any]] = []
    for wf in built:
        events.extend(lay_out(wf, rng=sim.rng, now=sim.now, window=window))
    events.sort(key=lambda e: datetime.fromisoformat(e["timestamp"]))
    return Batch(seed=sim.seed, workflows=built, events=events)


class LiveFeed:
    """Workflows played out in real time: each event is stamped when it is taken.

    ``in_flight`` workflows advance side by side; a finished one is replaced by a new one.
    """

    def __init__(self, *, seed: int | None = None, in_flight: int = 8):
        self.sim = Simulator(seed=seed)
        self.in_flight = in_flight
        self.active: list[tuple[Workflow, list[Planned]]] = []
        self.started: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self._last: datetime | None = None
        self._plan: list[str] = []

    @property
    def seed(self) -> int:
        return self.sim.seed

    def _new(self) -> None:
        if not self._plan:
            self._plan = self.sim.outcome_plan(20)
        kind = KINDS[self.sim.count % len(KINDS)]
        wf = self.sim.workflow(kind, self._plan.pop())
        self.started[kind] += 1
        self.active.append((wf, sorted(wf.events, key=lambda p: p.offset)))

    def take(self, n: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """The next ``n`` events, stamped from ``now`` on, strictly increasing in time."""
        now = now or datetime.now(UTC)
        out = []
        for _ in range(n):
            while len(self.active) < self.in_flight:
                self._new()
            index = self.sim.rng.randrange(len(self.active))
            wf, pending = self.active[index]
            planned = pending.pop(0)
            # Strictly later than the previous event, so a retry's StepStarted never ties
            # with the StepFailed before it.
            ts = now
            if self._last is not None and ts <= self._last:
                ts = self._last + timedelta(microseconds=1)
            self._last = ts
            due = None
            if planned.due is not None:
                # In real time a deadline comes soon: some tasks turn overdue while you watch.
                seconds = planned.due[1]
                due = ts + timedelta(seconds=seconds if seconds > 0 else 120)
            out.append(_wire(planned, ts, due))
            if not pending:
                self.active.pop(index)
                self.finished[wf.outcome] += 1
        return out
