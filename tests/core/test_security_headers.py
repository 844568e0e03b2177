"""HTTPS when DJANGO_HTTPS says so (check --deploy clean), and the Content-Security-Policy on
every HTML page, with pages that need nothing it forbids (no inline script, style or handler).
The browser side of the policy is tests/console/test_csp_browser.py."""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from tests.support import events as f
from tests.support.inbox_world import make_people, make_task
from tests.support.pages import every_page

ROOT = Path(__file__).resolve().parents[2]

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "connect-src": ["'self'", "ws://testserver"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def deploy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "inbox.example.com",
        **extra,
    }


def check_deploy(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_check_deploy_is_clean_with_https_on(tmp_path: Path) -> None:
    output = check_deploy(deploy_env(tmp_path, DJANGO_HTTPS="true"))
    assert "System check identified no issues (0 silenced)." in output, output
    assert "WARNING" not in output


def test_check_deploy_names_what_is_missing_without_https(tmp_path: Path) -> None:
    output = check_deploy(deploy_env(tmp_path))
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output, output


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in list(os.environ):
        if name.startswith("DJANGO_HSTS") or name == "DJANGO_HTTPS":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "settings.py"))


def test_https_settings_follow_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    off = settings_with(monkeypatch)
    for name in (
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
    ):
        assert name not in off  # Django's defaults: the embedded http://127.0.0.1 setup
    on = settings_with(monkeypatch, DJANGO_HTTPS="true")
    assert on["SECURE_SSL_REDIRECT"] is True
    assert on["SECURE_HSTS_SECONDS"] == 31_536_000
    assert on["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert on["SECURE_HSTS_PRELOAD"] is True
    assert on["SESSION_COOKIE_SECURE"] is True
    assert on["CSRF_COOKIE_SECURE"] is True
    assert on["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    no_preload = settings_with(monkeypatch, DJANGO_HTTPS="1", DJANGO_HSTS_PRELOAD="false")
    assert no_preload["SECURE_HSTS_PRELOAD"] is False


@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_HSTS_SECONDS=31_536_000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    SECURE_HSTS_PRELOAD=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_behind_a_tls_proxy_http_redirects_and_https_gets_hsts(db: Any) -> None:
    client = Client()
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    secure = client.get("/accounts/login/", headers={"x-forwarded-proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    # the live socket is wss on an HTTPS page
    assert "connect-src 'self' wss://testserver" in secure["Content-Security-Policy"]


def parse_policy(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in policy, header
        policy[name] = values
    return policy


class InlineFinder(HTMLParser):
    """What the policy blocks: inline scripts and styles, style and event-handler attributes,
    htmx attributes that eval."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style" or (name.startswith("on") and name != "open"):
                self.found.append(f"<{tag} {name}=...>")
            if name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}>")
            if name in ("hx-vals", "hx-headers", "hx-vars") and (value or "").lstrip().startswith(
                ("js:", "javascript:")
            ):
                self.found.append(f"<{tag} {name}=js:...>")
            if name == "hx-trigger" and "[" in (value or ""):
                self.found.append(f"<{tag} hx-trigger with a filter>")
            if name in ("href", "action", "src") and (value or "").strip().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}=javascript:>")


def inline_content(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    people = make_people()
    task = make_task(assignee="alice")
    f.ingest(f.one_of_each(f.new_id()))  # an instance with a bit of everything
    make_task(assignee="nobody-by-that-name")  # for Unrouted
    root = User.objects.create_superuser("root", password="x")
    return {"people": people, "task": task, "root": root}


def pages(world: dict[str, Any]) -> list[str]:
    task = world["task"]
    return [
        *every_page(task_id=task.task_id, instance_id=task.instance.instance_id),
        "/admin/workflows/humantask/",
        "/admin/axes/accessattempt/",
    ]


def test_every_html_page_has_exactly_the_policy_and_needs_nothing_it_forbids(
    world: dict[str, Any],
) -> None:
    anonymous = Client()
    login = anonymous.get("/accounts/login/")
    responses = {"/accounts/login/": login}
    client = Client()
    client.force_login(world["root"])
    for url in pages(world):
        responses[url] = client.get(url)
        # the htmx partial of the same page is covered too
        responses[url + " (htmx)"] = client.get(url, headers={"hx-request": "true"})
    for url, response in responses.items():
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html"), url
        assert parse_policy(response["Content-Security-Policy"]) == POLICY, url
        if not url.startswith("/admin/"):  # Django's admin: the browser test covers it
            assert inline_content(response.content.decode()) == [], url


def test_the_policy_is_on_other_responses_too(world: dict[str, Any]) -> None:
    client = Client()
    client.force_login(world["root"])
    for response in (
        client.get("/no-such-page/"),
        client.get("/api/tasks"),
        Client().get("/"),  # the redirect to sign in
    ):
        assert parse_policy(response["Content-Security-Policy"]) == POLICY


def test_the_finder_finds_what_the_policy_forbids() -> None:
    html = (
        '<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()">'
        '<button hx-on:click="x()" hx-vals="js:{a: 1}" hx-trigger="click[ctrlKey]">'
        '<a href="javascript:void(0)">'
        '<script src="/static/js/app.js"></script><details open>'
    )
    assert inline_content(html) == [
        "inline <script>",
        "<style>",
        "<p style=...>",
        "<p onclick=...>",
        "<button hx-on:click>",
        "<button hx-vals=js:...>",
        "<button hx-trigger with a filter>",
        "<a href=javascript:>",
    ]
