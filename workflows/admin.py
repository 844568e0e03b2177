"""Every model in Django's admin: the log and the projections read-only, tokens and the outbox
for admins."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from workflows.models import (
    ALL_TOKEN_SCOPES,
    AssignmentEmail,
    DigestEmail,
    Event,
    FoldState,
    HumanTask,
    IngestToken,
    InstanceSearch,
    OutboxCommand,
    Preferences,
    StepRun,
    TaskSearch,
    TokenScope,
    WorkflowInstance,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the dashboard writes: shown, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The log is append-only: readable here, never editable."""

    list_display = ["seq", "type", "instance_id", "timestamp", "source", "received_at"]
    list_filter = ["type", "source"]
    search_fields = ["instance_id", "task_id", "event_id"]


@admin.register(HumanTask)
class HumanTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "step_name", "assignee", "status", "due_at", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "task_id", "assignee"]
    readonly_fields = [f.name for f in HumanTask._meta.fields]


class IngestTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="events:write sends events; read reads every task and instance.",
    )

    class Meta:
        model = IngestToken
        fields = ["name", "scopes", "revoked"]

    def clean_scopes(self) -> list[str]:
        chosen = self.cleaned_data["scopes"]
        return [s for s in ALL_TOKEN_SCOPES if s in chosen]


@admin.register(IngestToken)
class IngestTokenAdmin(admin.ModelAdmin):
    """Tokens are created by ``manage.py create_ingest_token`` (the raw value is shown once,
    there); here their scopes are changed and they are revoked."""

    form = IngestTokenForm
    list_display = ["name", "prefix", "scope_list", "created_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token made here would have no value anyone could use

    @admin.display(description="scopes")
    def scope_list(self, token: IngestToken) -> str:
        return " ".join(token.scopes) if isinstance(token.scopes, list) else ""

    @admin.action(description="Revoke selected tokens (further requests get 401)")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


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


@admin.register(Preferences)
class PreferencesAdmin(admin.ModelAdmin):
    """People's own settings (time zone, email notifications): they set them on /settings/."""

    list_display = ["user", "time_zone", "notify_assigned", "notify_digest", "updated_at"]
    list_filter = ["notify_assigned", "notify_digest"]
    search_fields = ["user__username", "time_zone"]
    readonly_fields = ["updated_at"]


class ReadOnlyEmailAdmin(ReadOnlyAdmin):
    """People's emails: where each is (sent, failed and why); written only by the worker."""

    list_filter = ["status"]


@admin.register(AssignmentEmail)
class AssignmentEmailAdmin(ReadOnlyEmailAdmin):
    list_display = ["id", "created_at", "recipient", "task_id", "team", "status", "attempts"]
    list_display += ["last_error", "sent_at"]
    search_fields = ["task_id", "recipient__username"]
    readonly_fields = [f.name for f in AssignmentEmail._meta.fields]


@admin.register(DigestEmail)
class DigestEmailAdmin(ReadOnlyEmailAdmin):
    list_display = ["id", "day", "user", "status", "task_count", "attempts", "last_error"]
    list_display += ["sent_at"]
    search_fields = ["user__username"]
    readonly_fields = [f.name for f in DigestEmail._meta.fields]


class SearchDocumentAdmin(ReadOnlyAdmin):
    """The search index's documents (``workflows.search``): derived from the projections by
    the fold, rebuilt by ``rebuild_projections``; read-only, to see what a search looks in."""

    readonly_fields = ["body"]


@admin.register(InstanceSearch)
class InstanceSearchAdmin(SearchDocumentAdmin):
    list_display = ["instance_id"]
    search_fields = ["instance_id"]


@admin.register(TaskSearch)
class TaskSearchAdmin(SearchDocumentAdmin):
    list_display = ["task_id", "instance_id"]
    search_fields = ["task_id", "instance_id"]
