"""Projections of workflow instances and their step runs, folded from the event log."""

from __future__ import annotations

from django.db import models


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
        ordering = ["-started_at", "-id"]
        permissions = [
            ("manage_instances", "Can cancel, pause and resume workflows and reassign any task"),
            ("view_history", "Can view all history, reports and exports"),
        ]
        indexes = [
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["workflow_name", "started_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} {self.instance_id}"

    @property
    def display_name(self) -> str:
        return self.workflow_name or "unknown workflow"

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
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "step_name", "attempt"], name="unique_step_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.step_name} #{self.attempt} ({self.status})"
