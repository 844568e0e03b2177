"""``/healthz`` answers without touching anything; ``/readyz`` says whether this process can
serve: the database answers, every migration is applied, the channel layer is reachable."""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from config import health

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_migration_answer() -> Iterator[None]:
    health.reset()
    yield
    health.reset()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthz_answers_without_the_database_or_a_session(client: Client) -> None:
    # No django_db mark: any query (a session or user lookup included) would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert "Set-Cookie" not in response and not response.cookies
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ready_with_every_check_named(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())
    expected = "redis" if os.environ.get("REDIS_URL") else "in-memory"
    assert body["checks"]["channel_layer"]["backend"] == expected


@pytest.mark.django_db
def test_readyz_fails_when_the_database_is_gone(client: Client) -> None:
    gone = OperationalError("connection to server at 10.0.0.9 failed: secret detail")
    with mock.patch.object(connection, "cursor", side_effect=gone):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {
        "ok": False,
        "reason": "database round trip failed: OperationalError",
    }
    assert checks["migrations"]["ok"] is False
    assert checks["channel_layer"]["ok"] is True
    assert b"secret detail" not in response.content  # the probe is public; the log has it


def test_readyz_fails_against_a_real_database_that_does_not_answer() -> None:
    """Not a simulation: a server process whose PostgreSQL is a closed port."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client(HTTP_HOST='127.0.0.1').get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{closed_port()}/inbox",
        "LOG_LEVEL": "ERROR",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["checks"]["database"]["ok"] is False
    assert "OperationalError" in answer["body"]["checks"]["database"]["reason"]


@pytest.mark.django_db
def test_readyz_fails_while_migrations_are_unapplied(client: Client) -> None:
    with mock.patch.object(
        MigrationExecutor, "migration_plan", return_value=[("0099_later", False)]
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "ok": False,
        "reason": "1 migrations not applied",
    }


@pytest.mark.django_db
def test_readyz_reads_the_migrations_once_they_are_all_applied(client: Client) -> None:
    assert client.get("/readyz").status_code == 200
    with mock.patch.object(MigrationExecutor, "migration_plan", side_effect=AssertionError):
        assert client.get("/readyz").status_code == 200  # the answer is kept


@pytest.mark.django_db
def test_readyz_fails_when_redis_is_unreachable(client: Client, settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": f"redis://127.0.0.1:{closed_port()}/0", "max_connections": 5}]
            },
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]
    assert checks["channel_layer"]["ok"] is False
    assert checks["channel_layer"]["reason"].startswith("redis ping failed: ")


@pytest.mark.django_db
def test_readyz_pings_a_running_redis(client: Client, settings: Any) -> None:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (CI's second run sets it)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url}]},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == {"ok": True, "backend": "redis"}


def test_probes_skip_the_https_redirect(settings: Any, monkeypatch: Any) -> None:
    """Probes and the scraper talk to the process over plain HTTP, also with DJANGO_HTTPS."""
    monkeypatch.setenv("DJANGO_HTTPS", "true")
    https = runpy.run_path(str(ROOT / "config" / "settings.py"))
    settings.SECURE_SSL_REDIRECT = https["SECURE_SSL_REDIRECT"]
    settings.SECURE_REDIRECT_EXEMPT = https["SECURE_REDIRECT_EXEMPT"]
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
