from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from inbox.models import Event, FoldState, HumanTask, IngestToken, OutboxCommand


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
    list_display = ["id", "kind", "instance_id", "created_at", "delivered_at", "attempts"]
    list_filter = ["kind"]
    readonly_fields = ["event", "kind", "instance_id", "payload", "created_at"]


@admin.register(FoldState)
class FoldStateAdmin(admin.ModelAdmin):
    """Part of the projections (what an instance's fold carries between ingests): read-only."""

    list_display = ["instance"]
    readonly_fields = ["instance", "state"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
