from __future__ import annotations

from django.urls import URLPattern

app_name = "workflows_ui"
urlpatterns: list[URLPattern] = []
