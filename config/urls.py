from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.routes import api
from config import health, metrics
from config.security import SignOutView, ThrottledPasswordChangeView

# Signing in and out, and changing one's own password (old password throttled like sign-in).
# No self-service password reset: it needs a mail server and is one more door to guard;
# admins set a forgotten password in the admin.
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("password_change/", ThrottledPasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    # Operations (docs/architecture.md): probes for anyone, metrics for allowed addresses.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include(accounts)),
    path("", include("inbox.urls")),
    path("", include("savedviews.urls")),
    path("workflows/", include("workflows_ui.urls")),
]

# A database outage answers 503 with Retry-After, anything else Django's 500 (config/outage.py).
handler500 = "config.outage.server_error"
