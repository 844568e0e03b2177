from __future__ import annotations

from django.urls import path

from savedviews import views

urlpatterns = [
    path("views/", views.manage, name="saved_views"),
    path("views/save/", views.create, name="saved_view_create"),
    path("views/<int:view_id>/rename/", views.rename, name="saved_view_rename"),
    path("views/<int:view_id>/delete/", views.delete, name="saved_view_delete"),
]
