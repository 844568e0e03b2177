"""``/metrics``: who may read it, and that it carries every named series with the values
ingest, the outbox and the live sockets gave them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.models import User
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.live.test_live_consumer import open_socket, received
from tests.support import events as b
from workflows.actions import cancel_instance
from workflows.models import OutboxCommand

ROOT = Path(__file__).resolve().parents[2]


def scrape(client: Client | None = None) -> dict[str, float]:
    """Every sample of one scrape, keyed ``name{label="value",...}``."""
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content[:300]
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def ingest_series(samples: dict[str, float]) -> dict[str, float]:
    return {
        k: v
        for k, v in samples.items()
        if k.startswith(("taskinbox_events_ingested", "taskinbox_ingest_seconds"))
    }


# --- who may read it ---------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_answer_the_allowed_addresses_only(settings: Any) -> None:
    assert Client().get("/metrics").status_code == 200  # 127.0.0.1, allowed by default
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="203.0.113.7").get("/metrics").status_code == 404
    # The address is the peer's: a client's own X-Forwarded-For counts for nothing
    # without DJANGO_PROXY_COUNT.
    spoofed = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.get("/metrics").status_code == 404
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client().get("/metrics").status_code == 404
    settings.METRICS_ALLOWED_IPS = []
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_answer_the_bearer_token(settings: Any) -> None:
    settings.METRICS_ALLOWED_IPS = []
    outside = "203.0.113.7"
    assert Client(REMOTE_ADDR=outside).get("/metrics").status_code == 404  # no token set
    settings.METRICS_TOKEN = "scrape-secret-123"
    bearer = Client(REMOTE_ADDR=outside, HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    assert bearer.get("/metrics").status_code == 200
    for wrong in ("Bearer scrape-secret-12", "Bearer ", "Basic scrape-secret-123", ""):
        refused = Client(REMOTE_ADDR=outside, HTTP_AUTHORIZATION=wrong)
        assert refused.get("/metrics").status_code == 404, wrong


@pytest.mark.django_db
def test_a_signed_in_admin_from_elsewhere_is_refused_too() -> None:
    admin = User.objects.create_superuser("root", password="pw")
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.force_login(admin)
    assert client.get("/metrics").status_code == 404


# --- the series ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_and_the_outbox_in_the_series(
    api_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    before = scrape()
    iid = b.new_id()
    batch = [b.workflow_started(iid, 0), b.step_started(iid, 1, "approve")]
    with django_capture_on_commit_callbacks() as callbacks:
        response = b.post_events(api_client, [*batch, batch[0]])
    assert response.status_code == 200, response.content
    assert ingest_series(scrape()) == ingest_series(before)
    for callback in callbacks:  # counted once committed, not before
        callback()
    after = scrape()
    started = 'taskinbox_events_ingested_total{type="WorkflowStarted"}'
    stepped = 'taskinbox_events_ingested_total{type="StepStarted"}'
    assert after[started] - before.get(started, 0) == 1  # the duplicate is not counted
    assert after[stepped] - before.get(stepped, 0) == 1
    assert after["taskinbox_ingest_seconds_count"] - before["taskinbox_ingest_seconds_count"] == 1
    assert after["taskinbox_ingest_seconds_sum"] > before["taskinbox_ingest_seconds_sum"]
    # A refused batch stores nothing and counts nothing.
    assert b.post_events(api_client, [{"type": "Nonsense"}]).status_code == 422
    assert scrape()["taskinbox_ingest_seconds_count"] == after["taskinbox_ingest_seconds_count"]

    for state in ("pending", "failed", "dead"):
        assert after[f'taskinbox_outbox_commands{{state="{state}"}}'] == 0
    admin = User.objects.create_superuser("root", password="pw")
    for _ in range(2):
        other, _ = b.waiting_instance()
        cancel_instance(instance_id=other, user=admin, reason="for the outbox")
    OutboxCommand.objects.filter(pk=OutboxCommand.objects.first().pk).update(status="dead")
    outbox = scrape()
    assert outbox['taskinbox_outbox_commands{state="pending"}'] == 1
    assert outbox['taskinbox_outbox_commands{state="dead"}'] == 1
    assert outbox['taskinbox_outbox_commands{state="failed"}'] == 0
    # django-prometheus' own request series are there too.
    for django_series in (
        "django_http_requests_latency_including_middlewares_seconds",
        "django_http_responses_total_by_status_total",
    ):
        assert any(k.startswith(django_series) for k in outbox), django_series


@pytest.mark.django_db
def test_the_outbox_counts_are_one_query_per_scrape(django_assert_num_queries: Any) -> None:
    Client().get("/metrics")  # anything a first request loads
    with django_assert_num_queries(1):
        assert Client().get("/metrics").status_code == 200


@pytest.fixture
async def fresh_layer() -> AsyncIterator[None]:
    channel_layers.backends.clear()
    yield
    for layer in list(channel_layers.backends.values()):
        close = getattr(layer, "close_pools", None)
        if close is not None:
            await close()
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_sockets_and_the_live_fanout_in_the_series(fresh_layer: None, settings: Any) -> None:
    if os.environ.get("REDIS_URL"):
        layer = {**settings.CHANNEL_LAYERS["default"]}
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test-metrics-{os.getpid()}"}
        settings.CHANNEL_LAYERS = {"default": layer}
    get = database_sync_to_async(scrape)
    alice = await database_sync_to_async(User.objects.create_user)("alice", password="pw")
    before = await get()
    comm = await open_socket(alice)
    opened = await get()
    assert opened["taskinbox_websockets_open"] == before["taskinbox_websockets_open"] + 1

    await database_sync_to_async(b.waiting_instance)(assignee="alice", title="Fan me out")
    assert "Fan me out" in await received(comm)
    heard = await get()
    fanout = "taskinbox_live_fanout_seconds_count"
    assert heard[fanout] >= before[fanout] + 1
    assert heard["taskinbox_live_fanout_seconds_sum"] >= before["taskinbox_live_fanout_seconds_sum"]

    await comm.disconnect()
    closed = await get()
    assert closed["taskinbox_websockets_open"] == before["taskinbox_websockets_open"]


def test_several_processes_add_up_and_dead_ones_leave_the_open_sockets(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR: one process opened two sockets and died; the scraping
    process has one open and observed one fan-out; the other's fan-out still counts."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "LOG_LEVEL": "ERROR"}
    gone = (
        "from live.metrics import WEBSOCKETS_OPEN, LIVE_FANOUT_SECONDS;"
        "WEBSOCKETS_OPEN.inc(2); LIVE_FANOUT_SECONDS.observe(0.2)"
    )
    subprocess.run([sys.executable, "-c", gone], cwd=ROOT, env=env, check=True, timeout=60)
    scraping = (
        "import django; django.setup();"
        "from live.metrics import WEBSOCKETS_OPEN, LIVE_FANOUT_SECONDS;"
        "WEBSOCKETS_OPEN.inc(); LIVE_FANOUT_SECONDS.observe(0.1);"
        "from django.test import Client;"
        "print(Client(HTTP_HOST='127.0.0.1').get('/metrics').content.decode())"
    )
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'none.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", scraping],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
        if not s.labels  # the gauge, the histogram's _count and _sum
    }
    assert samples["taskinbox_websockets_open"] == 1
    assert samples["taskinbox_live_fanout_seconds_count"] == 2
    assert abs(samples["taskinbox_live_fanout_seconds_sum"] - 0.3) < 1e-9
