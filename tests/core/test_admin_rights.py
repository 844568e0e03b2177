"""The Admins role in Django's admin (migration 0005): tokens, the outbox, the log and axes'
access attempts; users and groups stay with superusers."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from demo.users import ensure_demo_users
from workflows.models import IngestToken

pytestmark = pytest.mark.django_db


def signed_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


@pytest.fixture
def admin() -> Client:
    ensure_demo_users()
    return signed_in("admin")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/workflows/ingesttoken/",
        "/admin/workflows/outboxcommand/",
        "/admin/workflows/event/",
        "/admin/workflows/workflowinstance/",
        "/admin/workflows/humantask/",
        "/admin/workflows/steprun/",
        "/admin/axes/accessattempt/",
        "/admin/axes/accessfailurelog/",
        "/admin/axes/accesslog/",
    ],
)
def test_an_admin_opens_what_the_role_looks_after(admin: Client, url: str) -> None:
    assert admin.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/admin/auth/user/", "/admin/auth/group/"])
def test_users_and_groups_stay_with_superusers(admin: Client, url: str) -> None:
    assert admin.get(url).status_code == 403


def test_an_admin_unlocks_a_locked_sign_in_in_the_admin(admin: Client) -> None:
    attempt = AccessAttempt.objects.create(
        username="alice",
        ip_address="10.0.0.1",
        user_agent="test",
        failures_since_start=10,
        attempt_time=timezone.now(),
    )
    url = f"/admin/axes/accessattempt/{attempt.pk}/delete/"
    response = admin.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()


def test_an_admin_revokes_a_token_in_the_admin(admin: Client) -> None:
    token, _ = IngestToken.issue("engine")
    response = admin.post(
        "/admin/workflows/ingesttoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked


def test_a_manager_is_not_staff() -> None:
    ensure_demo_users()
    response = signed_in("erin").get("/admin/workflows/ingesttoken/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
