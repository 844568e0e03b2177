"""Every model of the dashboard: the event log (the only source of truth), ingest tokens,
the outbox, and the projections folded from the log (WorkflowInstance, StepRun, HumanTask,
with each instance's FoldState).

The tables keep the names they had when these models lived in the ``inbox`` and
``workflows_ui`` apps (``Meta.db_table``): moving code must not move data.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Q
from django.utils import timezone

from workflows.business_key import business_key
from workflows.roles import can_read

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


# ``Event.source`` of a person's action in the dashboard: this prefix, then the username.
DASHBOARD_SOURCE = "dashboard:"


def dashboard_source(username: str) -> str:
    """``Event.source`` for an action that ``username`` took in the dashboard."""
    return DASHBOARD_SOURCE + username


def dashboard_actor(source: str) -> str:
    """The signed-in person behind a dashboard action's ``Event.source``, else ""."""
    return source.removeprefix(DASHBOARD_SOURCE) if source.startswith(DASHBOARD_SOURCE) else ""


class AppendOnlyError(RuntimeError):
    pass


class Event(models.Model):
    """One received event. Rows are only ever added; projections are folds of them."""

    seq = models.BigAutoField(primary_key=True, help_text="Arrival sequence.")
    event_id = models.UUIDField(
        unique=True,
        help_text="Idempotency key: the sender's event_id, or one derived from the SHA-256 "
        "of the event's canonical JSON.",
    )
    event_id_given = models.BooleanField(default=False)
    type = models.CharField(max_length=32)
    instance_id = models.UUIDField(db_index=True)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    timestamp = models.DateTimeField()
    payload = models.JSONField()
    source = models.CharField(max_length=200, help_text="token:NAME, dashboard:USER or cli:…")
    actor = models.CharField(
        max_length=200,
        blank=True,
        help_text="The person behind the event: the dashboard user, else the one the payload "
        "names (user_id, completed_by, reassigned_by, canceled_by, resumed_by).",
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "inbox_event"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["instance_id", "timestamp"]),
            # Who reassigned what: Done lists and task visibility ask it on every page.
            models.Index(fields=["actor", "type"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} {self.instance_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the event log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("the event log is append-only")


class TokenScope(models.TextChoices):
    """What an ingest token may do (docs/engines.md, "Token")."""

    EVENTS_WRITE = "events:write", "events:write: POST /api/events"
    READ = "read", "read: every task and instance through the read endpoints"


# New tokens may only send events: an engine's token must not read every task. Tokens that
# existed before scopes (migration 0003) keep both, so current deployments go on working.
DEFAULT_TOKEN_SCOPES: tuple[str, ...] = (TokenScope.EVENTS_WRITE.value,)
ALL_TOKEN_SCOPES: tuple[str, ...] = tuple(TokenScope.values)


def default_token_scopes() -> list[str]:
    return list(DEFAULT_TOKEN_SCOPES)


def validate_token_scopes(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("scopes must be a list of scope names")
    if not value:
        raise ValidationError(f"a token needs at least one scope: {', '.join(ALL_TOKEN_SCOPES)}")
    unknown = sorted(set(value) - set(ALL_TOKEN_SCOPES))
    if unknown:
        raise ValidationError(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_TOKEN_SCOPES)}"
        )


class IngestToken(models.Model):
    """A bearer token for the API (``POST /api/events``, and the reads with ``read``); only
    its SHA-256 is kept."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Updated at most once a minute."
    )
    revoked = models.BooleanField(default=False)
    scopes = models.JSONField(
        default=default_token_scopes,
        validators=[validate_token_scopes],
        help_text="events:write (send events) and/or read (read every task and instance).",
    )

    class Meta:
        db_table = "inbox_ingesttoken"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(
        cls, name: str, scopes: tuple[str, ...] | list[str] = DEFAULT_TOKEN_SCOPES
    ) -> tuple[IngestToken, str]:
        """Create a token; the raw value is returned once and never stored."""
        chosen = [s for s in ALL_TOKEN_SCOPES if s in scopes]  # canonical order, no repeats
        validate_token_scopes(list(scopes))
        raw = "tki_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            name=name, token_hash=cls.hash(raw), prefix=raw[:10], scopes=chosen
        )
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> IngestToken | None:
        """The token whose hash matches, unless revoked. Every API request asks: one
        prepared-once ``SELECT`` (workflows.fastsql), not the ORM's query compilation, which
        was a fifth of a single-event ingest request (bench/README.md)."""
        from workflows import fastsql

        table = fastsql.table_of(cls, *_TOKEN_COLUMNS)
        for row in fastsql.select_in(table, "token_hash", [cls.hash(raw)]):
            token = cls(**dict(zip(_TOKEN_COLUMNS, row, strict=True)))
            token._state.adding, token._state.db = False, DEFAULT_DB_ALIAS
            if not token.revoked:
                return token
        return None

    def has_scope(self, scope: str) -> bool:
        return isinstance(self.scopes, list) and scope in self.scopes


_TOKEN_COLUMNS = (
    "id",
    "name",
    "token_hash",
    "prefix",
    "created_at",
    "last_used_at",
    "revoked",
    "scopes",
)


class OutboxCommand(models.Model):
    """A command for the engine, written in the same transaction as the action's event.

    ``workflows.outbox`` delivers it (docs/engines.md, section 2): ``status`` is where it is,
    ``next_attempt_at`` when a failed one is tried again.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first (or an admin's) attempt
        DELIVERED = "delivered"  # the engine answered 2xx
        FAILED = "failed"  # an attempt failed; retried at next_attempt_at
        DEAD = "dead"  # a final answer, or too many attempts; an admin may retry it

    class Action(models.TextChoices):
        COMPLETE = "complete"
        REASSIGN = "reassign"
        CLAIM = "claim"
        RELEASE = "release"
        CANCEL = "cancel"
        PAUSE = "pause"
        RESUME = "resume"

    command_id = models.UUIDField(
        default=uuid.uuid4, unique=True, help_text="Receivers drop redeliveries by this id."
    )
    created_at = models.DateTimeField(default=timezone.now)
    event = models.OneToOneField(Event, on_delete=models.PROTECT, related_name="outbox_command")
    kind = models.CharField(max_length=32, help_text="The event type the engine must act on.")
    action = models.CharField(max_length=16, choices=Action.choices, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="The dashboard username.")
    instance_id = models.UUIDField()  # indexed with id (outbox_instance_order_idx)
    task_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField(help_text="The event's wire object.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "inbox_outboxcommand"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_next_idx"),
            models.Index(fields=["instance_id", "id"], name="outbox_instance_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action or self.kind} {self.instance_id}"


class WorkflowInstanceQuerySet(models.QuerySet["WorkflowInstance"]):
    def active(self) -> WorkflowInstanceQuerySet:
        return self.filter(status__in=WorkflowInstance.ACTIVE)


class WorkflowInstance(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        WAITING = "waiting"
        PAUSED = "paused"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELED = "canceled"

    ACTIVE = (Status.RUNNING, Status.WAITING, Status.PAUSED)
    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELED)

    instance_id = models.UUIDField(unique=True)
    workflow_name = models.CharField(max_length=200, blank=True, help_text="Blank when unknown.")
    workflow_version = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    engine_status = models.CharField(max_length=50, blank=True, help_text="As the engine said.")
    current_step = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    first_event_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    event_count = models.PositiveIntegerField(default=0)
    initial_data = models.JSONField(null=True, blank=True)
    initiator = models.CharField(max_length=200, blank=True)
    tenant_id = models.CharField(max_length=200, blank=True)
    final_step = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    failed_step = models.CharField(max_length=200, blank=True)
    stack_trace = models.TextField(blank=True)
    cancel_reason = models.TextField(blank=True)
    canceled_by = models.CharField(max_length=200, blank=True)
    pause_reason = models.TextField(blank=True)
    paused_by = models.CharField(max_length=200, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=200, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowInstanceQuerySet.as_manager()

    class Meta:
        db_table = "workflows_ui_workflowinstance"
        ordering = ["-started_at", "-id"]
        permissions = [
            ("manage_instances", "Can cancel, pause and resume workflows and reassign any task"),
            ("view_history", "Can view all history, reports and exports"),
        ]
        indexes = [
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["workflow_name", "started_at"]),
            # Reports: counts per (status, workflow) and durations at a rank, index only
            models.Index(
                fields=["status", "workflow_name", "duration_seconds"], name="instance_report_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} {self.instance_id}"

    @property
    def display_name(self) -> str:
        """The workflow as people read it (``workflows.labels.workflow_label``)."""
        from workflows.labels import workflow_label

        return workflow_label(self.workflow_name)

    @property
    def business_key(self) -> str:
        """The reference people know this workflow by, from its initial data, or ""
        (``workflows.business_key``)."""
        return business_key(self.initial_data)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class StepRun(models.Model):
    """One run of a step; a retried step has one row per attempt."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"

    instance = models.ForeignKey(
        WorkflowInstance, to_field="instance_id", on_delete=models.CASCADE, related_name="steps"
    )
    step_name = models.CharField(max_length=200)
    attempt = models.PositiveIntegerField(default=1)
    step_type = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    engine_status = models.CharField(max_length=50, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    error_type = models.CharField(max_length=200, blank=True)
    input_data = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    output_data = models.JSONField(null=True, blank=True)
    skip_reason = models.TextField(blank=True)

    class Meta:
        db_table = "workflows_ui_steprun"
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "step_name", "attempt"], name="unique_step_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.step_name} #{self.attempt} ({self.status})"


def reassigned_task_ids(username: str) -> models.QuerySet[Event, Any]:
    """Ids of the tasks this person has reassigned (to someone else or to themselves)."""
    return Event.objects.filter(actor=username, type="HumanTaskReassigned").values("task_id")


class HumanTaskQuerySet(models.QuerySet["HumanTask"]):
    def open(self) -> HumanTaskQuerySet:
        return self.filter(status=HumanTask.Status.OPEN)

    def for_user(self, user: User | AnonymousUser) -> HumanTaskQuerySet:
        """The one rule of who may see a task: its user and its group's members, whoever
        completed or reassigned it, and everyone for admins and managers."""
        if not user.is_authenticated:
            return self.none()
        if can_read(user):
            return self
        reassigned_by_me = reassigned_task_ids(user.get_username())
        return self.filter(
            Q(assignee_user=user)
            | Q(assignee_group__in=user.groups.all())  # type: ignore[union-attr]
            | Q(completed_by_user=user)
            | Q(task_id__in=reassigned_by_me)
        )

    def unrouted(self) -> HumanTaskQuerySet:
        return self.filter(assignee_user__isnull=True, assignee_group__isnull=True)


class HumanTask(models.Model):
    """Projection: one human task, folded from its instance's events."""

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETED = "completed"
        CANCELED = "canceled"

    task_id = models.UUIDField(unique=True)
    instance = models.ForeignKey(
        WorkflowInstance,
        to_field="instance_id",
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    step_name = models.CharField(max_length=200)
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    assignee = models.CharField(max_length=200, blank=True, help_text="As the engine sent it.")
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tasks",
    )
    assignee_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    form_schema = models.JSONField(null=True, blank=True)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.CharField(max_length=200, blank=True)
    completed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="completed_tasks",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=200, blank=True)
    form_data = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    reassignment_count = models.PositiveIntegerField(default=0)
    last_reassigned_at = models.DateTimeField(null=True, blank=True)
    last_reassigned_by = models.CharField(max_length=200, blank=True)
    last_reassign_reason = models.TextField(blank=True)
    previous_assignee = models.CharField(max_length=200, blank=True)
    # The Reports page's figures per (workflow, step) without a join to the instances: the
    # fold copies the instance's workflow name and derives the cycle time (workflows.fold.
    # report_fields); migration 0010 filled them in for the rows that existed before.
    workflow_name = models.CharField(
        max_length=200, blank=True, default="", help_text="Its instance's workflow name."
    )
    cycle_seconds = models.FloatField(
        null=True, blank=True, help_text="Completed tasks: completed_at - created_at."
    )
    # Bumped by every person's action: the conditional update that lets exactly one of two
    # simultaneous actions win. Not part of the fold, so a rebuild leaves it alone.
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HumanTaskQuerySet.as_manager()

    class Meta:
        db_table = "inbox_humantask"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["assignee_user", "status", "due_at"]),
            models.Index(fields=["assignee_group", "status", "due_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["completed_by_user", "completed_at"]),
            # Reports: cycle times at a rank along (workflow, step, cycle_seconds); the rest
            # makes the counts per (workflow, step) a scan of this index alone
            models.Index(
                fields=[
                    "workflow_name",
                    "step_name",
                    "cycle_seconds",
                    "status",
                    "reassignment_count",
                    "due_at",
                    "completed_at",
                ],
                name="task_report_idx",
            ),
        ]

    def __str__(self) -> str:
        from workflows.labels import step_label

        return self.title or f"{step_label(self.step_name)} ({self.task_id})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_overdue(self) -> bool:
        return self.due_at is not None and self.due_at < timezone.now()

    @property
    def is_due_soon(self) -> bool:
        """Due within the next 24 hours (and not yet overdue)."""
        now = timezone.now()
        return self.due_at is not None and now <= self.due_at < now + timedelta(hours=24)


class FoldState(models.Model):
    """What an instance's fold needs, beyond its projection rows, to go on from them.

    ``workflows.store.refold`` writes it with the rows, in the same transaction. Ingest of
    events that all sort after the last one folded continues the fold from it instead of
    re-reading the instance's whole history. Nothing else reads it; without it (or if it
    does not fit the rows) the next ingest folds the instance from the log.
    """

    instance = models.OneToOneField(
        WorkflowInstance,
        to_field="instance_id",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="+",
    )
    state = models.JSONField(help_text="workflows.fold.FoldProgress.carry()")

    class Meta:
        db_table = "inbox_foldstate"

    def __str__(self) -> str:
        return f"fold state of {self.instance_id}"


class Preferences(models.Model):
    """One person's settings: their time zone and which emails they want.

    A person without a row has the defaults: the browser's time zone and no email.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="preferences",
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        help_text="An IANA zone such as Europe/Paris; empty: the browser's.",
    )
    notify_assigned = models.BooleanField(
        default=False,
        help_text="Email when a task is assigned to them or to one of their teams.",
    )
    notify_digest = models.BooleanField(
        default=False, help_text="A daily email listing their overdue tasks."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "workflows_preferences"
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user}"


class EmailStatus(models.TextChoices):
    """Where an email of ``workflows.notifications`` is."""

    PENDING = "pending"  # waiting for an attempt (again at next_attempt_at after a failure)
    SENT = "sent"  # handed to the email backend
    SKIPPED = "skipped"  # nothing to send any more (last_error says why)
    FAILED = "failed"  # gave up after NOTIFY_MAX_ATTEMPTS attempts


class EmailDelivery(models.Model):
    """Where one email is on its way: its status, attempts (a lease: the worker that bumps
    ``attempts`` owns the row until ``next_attempt_at``) and the last error."""

    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=EmailStatus.choices, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        abstract = True


class AssignmentEmail(EmailDelivery):
    """An email to one person: a task was assigned to them or to one of their teams.

    Written by ingest in the transaction that stored the assigning event, at most one per
    (recipient, task, event): a replay or a re-fold never makes a second one. Sent after the
    commit by ``workflows.notifications`` (and retried by the worker).
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignment_emails"
    )
    task_id = models.UUIDField()
    event_id = models.UUIDField(help_text="The event that assigned the task.")
    team = models.CharField(
        max_length=150, blank=True, help_text="The team it was assigned to; blank: to them."
    )
    actor = models.CharField(max_length=200, blank=True, help_text="Who assigned it, if known.")

    class Meta:
        db_table = "workflows_assignmentemail"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "task_id", "event_id"], name="one_assignment_email"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="assignmail_status_next_idx")
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} to {self.recipient_id} ({self.status})"


class DigestEmail(EmailDelivery):
    """One person's daily digest of overdue tasks: one row per (person, day in their time
    zone), claimed before anything is sent, so no day's digest goes out twice."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_emails"
    )
    day = models.DateField(help_text="The person's local date.")
    task_count = models.PositiveIntegerField(default=0, help_text="Overdue tasks listed.")

    class Meta:
        db_table = "workflows_digestemail"
        ordering = ["-day", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="one_digest_a_day")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="digest_status_next_idx")
        ]

    def __str__(self) -> str:
        return f"digest of {self.day} for {self.user_id} ({self.status})"


class InstanceSearch(models.Model):
    """The search index's document of one instance: its workflow name and the values of its
    initial data, as ``workflows.search.instance_text`` writes them (casefolded).

    Written by ``workflows.store.refold`` with the projection rows, in the same transaction;
    rebuilt by ``rebuild_projections``. The text index over ``body`` is the database's own:
    an FTS5 trigram table on SQLite, a pg_trgm GIN index on PostgreSQL (migration 0008).
    """

    instance_id = models.UUIDField(unique=True)
    body = models.TextField()

    class Meta:
        db_table = "workflows_instancesearch"

    def __str__(self) -> str:
        return f"search text of {self.instance_id}"


class TaskSearch(models.Model):
    """The search index's document of one task: its step name, title and description, then
    its instance's document (``workflows.search.task_body``), so a task is found by its
    workflow's business data as well as by its own words."""

    task_id = models.UUIDField(unique=True)
    instance_id = models.UUIDField()
    body = models.TextField()

    class Meta:
        db_table = "workflows_tasksearch"

    def __str__(self) -> str:
        return f"search text of {self.task_id}"
