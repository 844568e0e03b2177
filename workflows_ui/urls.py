from __future__ import annotations

from django.urls import path, register_converter

from pages.converters import AnyNameConverter
from workflows_ui import views

register_converter(AnyNameConverter, "anyname")

app_name = "workflows_ui"
urlpatterns = [
    path("", views.instance_list, name="instances"),
    path("bulk-cancel/", views.bulk_cancel, name="bulk_cancel"),
    path("unrouted/", views.unrouted, name="unrouted"),
    path("unrouted/assign/", views.unrouted_bulk_assign, name="unrouted_bulk_assign"),
    path("unrouted/<uuid:task_id>/assign/", views.unrouted_assign, name="unrouted_assign"),
    path("outbox/", views.outbox_page, name="outbox"),
    path("outbox/<int:command_pk>/retry/", views.outbox_retry, name="outbox_retry"),
    path("history/", views.history, name="history"),
    path("history/audit/", views.audit, name="audit"),
    path("history/people/<anyname:username>/", views.person_activity, name="person_activity"),
    path("reports/", views.report, name="reports"),
    path("export/instances.csv", views.export_instances, name="export_instances"),
    path("export/tasks.csv", views.export_tasks, name="export_tasks"),
    path("export/events.csv", views.export_events, name="export_events"),
    path("<uuid:instance_id>/", views.instance_detail, name="instance_detail"),
    path(
        "<uuid:instance_id>/<str:action>/",
        views.instance_action,
        name="instance_action",
    ),
]
