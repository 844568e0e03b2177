from __future__ import annotations

from django.urls import path

from inbox import views

urlpatterns = [
    path("", views.my_tasks, name="my_tasks"),
    path("start/", views.start, name="start"),
    path("queues/", views.team_queues, name="team_queues"),
    path("done/", views.done, name="done"),
    path("tasks/bulk/", views.bulk_action, name="bulk_action"),
    path("tasks/<uuid:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/complete/", views.task_complete, name="task_complete"),
    path("tasks/<uuid:task_id>/reassign/", views.task_reassign, name="task_reassign"),
    path("tasks/<uuid:task_id>/claim/", views.task_claim, name="task_claim"),
    path("tasks/<uuid:task_id>/release/", views.task_release, name="task_release"),
    path("assignees/", views.assignee_search, name="assignee_search"),
    path("settings/", views.settings_page, name="settings"),
]
