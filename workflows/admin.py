"""Every model in Django's admin: the log and the projections read-only, tokens and the outbox
for admins."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from workflows.models import (
    Event,
    FoldState,
    HumanTask,
    IngestToken,
    OutboxCommand,
    StepRun,
    WorkflowInstance,
)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The log is append-only: readable here, never editable."""

    list_display = ["seq", "type", "instance_id", "timestamp", "source", "received_at"]
    list_filter = ["type", "source"]
    search_fields = ["instance_id", "task_id", "event_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HumanTask)
class HumanTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "step_name", "assignee", "status", "due_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "task_id", "assignee"]
    readonly_fields = [f.name for f in HumanTask._meta.fields]


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked"]
    readonly_fields = ["token_hash", "prefix", "created_at", "last_used_at"]


@admin.register(OutboxCommand)
class OutboxCommandAdmin(admin.ModelAdmin):
    """Where each command for the engine is; dead ones can be retried."""

    list_display = [
        "id",
        "created_at",
        "status",
        "action",
        "instance_id",
        "actor",
        "attempts",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "action"]
    search_fields = ["instance_id", "task_id", "command_id", "actor"]
    readonly_fields = [f.name for f in OutboxCommand._meta.fields]
    actions = ["retry_dead"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry dead commands")
    def retry_dead(self, request: HttpRequest, queryset: Any) -> None:
        from workflows import outbox

        n = sum(outbox.retry(c) for c in queryset.filter(status=OutboxCommand.Status.DEAD))
        self.message_user(request, f"{n} dead command(s) will be delivered again.")


@admin.register(FoldState)
class FoldStateAdmin(admin.ModelAdmin):
    """Part of the projections (what an instance's fold carries between ingests): read-only."""

    list_display = ["instance"]
    readonly_fields = ["instance", "state"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ("step_name", "attempt", "step_type", "status", "started_at", "ended_at")
    readonly_fields = fields


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(admin.ModelAdmin):
    """Projections are folds of the log: shown here, changed only by events."""

    list_display = ["instance_id", "workflow_name", "status", "current_step", "started_at"]
    list_filter = ["status", "workflow_name"]
    search_fields = ["instance_id", "workflow_name", "initiator"]
    readonly_fields = [f.name for f in WorkflowInstance._meta.fields]
    inlines = [StepRunInline]


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = ["step_name", "attempt", "instance", "status", "started_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in StepRun._meta.fields]
