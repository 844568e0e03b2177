from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from api.routes import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("inbox.urls")),
    path("workflows/", include("workflows_ui.urls")),
]
