from __future__ import annotations

from django.contrib import admin

from workflows_ui.models import StepRun, WorkflowInstance


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
