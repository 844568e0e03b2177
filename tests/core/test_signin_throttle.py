"""Sign-in throttling with django-axes (config/settings.py, config/security.py): a username or
an address is locked after AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES, on both
sign-in pages; the lockout is the styled sign-in page with a message and HTTP 429."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db.models import F
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import reverse

from config.security import client_ip
from tests.support import events as f

SETTINGS = Path(__file__).resolve().parents[2] / "config" / "settings.py"
PASSWORD = "right-horse-battery-9"
LOCKED = "Too many failed sign-in attempts"
HERE, ELSEWHERE = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    return {
        "admin": User.objects.create_user("admin", password=PASSWORD, is_staff=True),
        "alice": User.objects.create_user("alice", password=PASSWORD),
    }


def sign_in(
    client: Client, username: str, password: str, ip: str = HERE, url: str = "/accounts/login/"
) -> Any:
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def fail(client: Client, username: str, times: int, ip: str = HERE) -> list[Any]:
    return [sign_in(client, username, "wrong-password", ip) for _ in range(times)]


def assert_locked(response: Any, username: str = "") -> None:
    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html
    assert "locked for 15 minutes, even with the right password" in html
    # our styled page, with the form to try again later
    assert 'href="/static/css/app.css"' in html
    assert "<h1>Sign in</h1>" in html
    assert f'value="{username}"' in html
    assert "_auth_user_id" not in response.client.session


def test_ten_failures_then_the_right_password_is_refused_with_the_message(users: Any) -> None:
    client = Client()
    responses = fail(client, "admin", 9)
    assert [r.status_code for r in responses] == [200] * 9
    assert "didn't match" in responses[-1].content.decode()
    assert LOCKED not in responses[-1].content.decode()

    assert_locked(fail(client, "admin", 1)[0], "admin")  # the 10th failure locks
    assert_locked(sign_in(client, "admin", PASSWORD), "admin")
    attempt = AccessAttempt.objects.get(username="admin")
    assert attempt.failures_since_start == 10  # tries during the lockout are not counted


def test_a_locked_username_is_locked_from_every_address(users: Any) -> None:
    fail(Client(), "admin", 10, ip=HERE)
    assert_locked(sign_in(Client(), "admin", PASSWORD, ip=ELSEWHERE), "admin")
    # the address and another username elsewhere are not involved
    assert signed_in(sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE))


def test_a_locked_address_is_locked_for_every_username(users: Any) -> None:
    # ten different usernames from one address: no username reaches the limit, the address does
    client = Client()
    for n in range(9):
        fail(client, f"guess{n}", 1)
    assert signed_in(sign_in(Client(), "alice", PASSWORD, ip=HERE))
    Client().logout()
    fail(client, "guess9", 1)
    assert_locked(sign_in(Client(), "alice", PASSWORD, ip=HERE), "alice")
    # the same username from another address is fine: neither it nor that address failed 10 times
    assert signed_in(sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE))


def test_the_admin_login_is_throttled_the_same_way(users: Any) -> None:
    client = Client()
    url = reverse("admin:login")
    for _ in range(10):
        sign_in(client, "admin", "wrong-password", url=url)
    assert_locked(sign_in(client, "admin", PASSWORD, url=url), "admin")
    # and counted together with the app's page
    assert_locked(sign_in(Client(), "admin", PASSWORD), "admin")


def test_the_lock_lifts_after_the_cool_off(users: Any) -> None:
    fail(Client(), "admin", 10)
    assert_locked(sign_in(Client(), "admin", PASSWORD), "admin")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=14))
    # Tries during the lockout are refused and do not renew it: 15 minutes from the lock.
    assert_locked(sign_in(Client(), "admin", PASSWORD), "admin")
    assert_locked(sign_in(Client(), "admin", "wrong-password"), "admin")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=1, seconds=1))
    assert signed_in(sign_in(Client(), "admin", PASSWORD))


def test_failures_older_than_the_cool_off_do_not_count(users: Any) -> None:
    fail(Client(), "admin", 9)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    fail(Client(), "admin", 1)
    assert AccessAttempt.objects.get(username="admin").failures_since_start == 1
    assert signed_in(sign_in(Client(), "admin", PASSWORD))


def test_axes_reset_unlocks(users: Any) -> None:
    fail(Client(), "admin", 10)
    assert_locked(sign_in(Client(), "admin", PASSWORD), "admin")
    call_command("axes_reset", verbosity=0)
    assert not AccessAttempt.objects.exists()
    assert signed_in(sign_in(Client(), "admin", PASSWORD))


def test_the_admin_lists_the_attempts(users: Any) -> None:
    fail(Client(), "alice", 3)
    superuser = User.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(superuser)
    page = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200
    assert "alice" in page.content.decode()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_limit_is_a_setting(users: Any) -> None:
    fail(Client(), "alice", 2)
    assert signed_in(sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE))
    fail(Client(), "alice", 1)
    assert_locked(sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE), "alice")


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """config/settings.py run afresh under ``env`` (Django's own settings are untouched)."""
    for name in ("AXES_FAILURE_LIMIT", "AXES_COOLOFF_MINUTES", "DJANGO_PROXY_COUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(monkeypatch)
    assert defaults["AXES_FAILURE_LIMIT"] == 10
    assert defaults["AXES_COOLOFF_TIME"] == timedelta(minutes=15)
    assert defaults["AXES_LOCKOUT_PARAMETERS"] == ["username", "ip_address"]
    assert defaults["PROXY_COUNT"] == 0
    configured = load_settings(
        monkeypatch, AXES_FAILURE_LIMIT="5", AXES_COOLOFF_MINUTES="60", DJANGO_PROXY_COUNT="1"
    )
    assert configured["AXES_FAILURE_LIMIT"] == 5
    assert configured["AXES_COOLOFF_TIME"] == timedelta(hours=1)
    assert configured["PROXY_COUNT"] == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AXES_FAILURE_LIMIT", "ten", "AXES_FAILURE_LIMIT must be a whole number, not 'ten'"),
        ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT must be at least 1, not 0"),
        ("AXES_COOLOFF_MINUTES", "-5", "AXES_COOLOFF_MINUTES must be at least 1, not -5"),
    ],
)
def test_a_bad_limit_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(monkeypatch, **{name: value})


def request_from(remote: str, forwarded: str | None = None) -> Any:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/accounts/login/", **extra)


def test_x_forwarded_for_is_ignored_unless_proxies_are_declared() -> None:
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@override_settings(PROXY_COUNT=1)
def test_behind_one_proxy_the_address_it_saw_counts() -> None:
    # what the client wrote itself (left) is ignored; the proxy appended the real peer
    assert client_ip(request_from("10.1.1.1", "1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(request_from("10.1.1.1", "198.51.100.7")) == "198.51.100.7"
    # not through the proxy, or garbage: the TCP peer
    assert client_ip(request_from("10.1.1.1")) == "10.1.1.1"
    assert client_ip(request_from("10.1.1.1", "not-an-ip")) == "10.1.1.1"


@override_settings(PROXY_COUNT=2)
def test_behind_two_proxies_the_outer_ones_peer_counts() -> None:
    assert client_ip(request_from("10.1.1.1", "6.6.6.6, 198.51.100.7, 10.0.0.5")) == (
        "198.51.100.7"
    )
    assert client_ip(request_from("10.1.1.1", "10.0.0.5")) == "10.1.1.1"


def test_spoofed_forwarded_addresses_do_not_dodge_the_address_lock(users: Any) -> None:
    client = Client()
    for n in range(10):
        client.post(
            "/accounts/login/",
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR=HERE,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    assert_locked(sign_in(Client(), "alice", PASSWORD, ip=HERE), "alice")


def test_the_api_token_still_works_from_a_locked_address(users: Any, api_client: Client) -> None:
    fail(Client(), "nobody", 10, ip="127.0.0.1")
    assert_locked(sign_in(Client(), "alice", PASSWORD, ip="127.0.0.1"), "alice")
    instance_id = f.new_id()
    response = f.post_events(api_client, [f.workflow_started(instance_id)])
    assert response.status_code == 200, response.content
    # a signed-in session keeps reading the API too
    session = Client()
    session.force_login(users["alice"])
    assert session.get("/api/tasks").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_the_lockout_page_under_asgi() -> None:
    """The server runs Django under ASGI, where axes' middleware takes its async path."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(User.objects.create_user)("admin", password=PASSWORD)
    client = AsyncClient()
    try:
        for _ in range(10):
            await client.post(
                "/accounts/login/", {"username": "admin", "password": "wrong"}, REMOTE_ADDR=HERE
            )
        response = await client.post(
            "/accounts/login/", {"username": "admin", "password": PASSWORD}, REMOTE_ADDR=HERE
        )
    finally:
        # the views ran in asgiref's one thread for sync code: close its connection there,
        # or PostgreSQL cannot drop the test database
        await sync_to_async(connections.close_all)()
    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html
    assert "<h1>Sign in</h1>" in html
    assert 'value="admin"' in html


def change_password(client: Client, old: str, new: str = "a-new-horse-battery-7") -> Any:
    return client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": new, "new_password2": new},
        REMOTE_ADDR=HERE,
    )


def test_a_password_change_with_the_right_old_password_works(users: Any) -> None:
    client = Client()
    client.force_login(users["alice"])
    response = change_password(client, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    users["alice"].refresh_from_db()
    assert users["alice"].check_password("a-new-horse-battery-7")


def test_signing_out_says_so_on_the_sign_in_page(users: Any) -> None:
    client = Client()
    client.force_login(users["alice"])
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain == [(reverse("login"), 302)]
    html = response.content.decode()
    assert "<h1>Sign in</h1>" in html and "You are signed out." in html
    assert "_auth_user_id" not in client.session


def test_the_password_pages_are_the_dashboards_not_the_admins(users: Any) -> None:
    """Django's defaults are the admin's pages, whose "Home" leads a person without admin
    rights to a sign-in they cannot pass: a dead end."""
    client = Client()
    client.force_login(users["alice"])
    form = client.get(reverse("password_change")).content.decode()
    assert "Django administration" not in form and "/admin/" not in form
    assert "<h1>Change your password</h1>" in form and 'href="/settings/"' in form
    mismatch = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-new-horse-7", "new_password2": "other"},
        REMOTE_ADDR=HERE,
    ).content.decode()
    assert "Please correct the fields marked below." in mismatch
    assert 'id="id_new_password2_error"' in mismatch
    done = client.get(reverse("password_change_done")).content.decode()
    assert "<h1>Password changed</h1>" in done and "Django administration" not in done
    assert 'href="/"' in done


def test_guessing_the_old_password_is_throttled_like_sign_in(users: Any) -> None:
    # A stolen session must not be a way to try passwords at leisure.
    client = Client()
    client.force_login(users["alice"])
    for _ in range(9):
        wrong = change_password(client, "wrong-password")
        assert wrong.status_code == 200
        assert "old password was entered incorrectly" in wrong.content.decode()
    assert change_password(client, "wrong-password").status_code == 429
    locked = change_password(client, PASSWORD)
    assert locked.status_code == 429
    users["alice"].refresh_from_db()
    assert users["alice"].check_password(PASSWORD)  # unchanged
    # and sign-in for that username is locked too: one count
    assert_locked(sign_in(Client(), "alice", PASSWORD, ip=ELSEWHERE), "alice")


def test_there_is_no_self_service_password_reset(db: Any) -> None:
    assert Client().get("/accounts/password_reset/").status_code == 404
