"""Logs: every request gets an id; with LOG_FORMAT=json every line on stderr is one JSON
object, with one per request and one per ingest batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import django, json, sys
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from django.test import Client
from workflows.models import IngestToken
_, token = IngestToken.issue("log-engine")
engine = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
batch = json.loads(sys.argv[1])
assert engine.post("/api/events", batch, content_type="application/json").status_code == 200
person = Client(HTTP_HOST="127.0.0.1", HTTP_X_REQUEST_ID="lb-7f3a.1")
person.force_login(User.objects.create_user("alice", password="pw"))
assert person.get("/").status_code in (200, 302)
assert Client(HTTP_HOST="127.0.0.1").get("/healthz").status_code == 200
"""


def test_json_logs_one_line_per_request_and_per_ingest_batch(tmp_path: Path) -> None:
    from tests.support import events as b

    iid = b.new_id()
    batch = [b.workflow_started(iid, 0), b.step_started(iid, 1, "approve")]
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'logs.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SERVER, json.dumps([*batch, batch[0]])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, not only ours
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)

    requests = [r for r in records if r.get("event") == "request"]
    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", "/api/events"),
        ("GET", "/"),
        ("GET", "/healthz"),
    ]
    post, page, probe = requests
    assert post["status"] == 200 and probe["status"] == 200
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] >= 0 for r in requests)
    assert post["user_id"] is None and probe["user_id"] is None
    assert isinstance(page["user_id"], int)  # the page looked its user up
    assert page["request_id"] == "lb-7f3a.1"  # a proxy's id is kept
    assert len({r["request_id"] for r in requests}) == 3

    (ingest,) = [r for r in records if r.get("event") == "ingest_batch"]
    assert ingest["events"] == 3
    assert ingest["stored"] == 2
    assert ingest["duplicates"] == 1
    assert ingest["source"] == "token:log-engine"
    assert ingest["duration_ms"] > 0
    assert ingest["request_id"] == post["request_id"]  # the batch's line names its request


def test_the_plain_format_logs_no_request_line_but_gives_an_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="taskinbox.request"):
        response = client.get("/healthz")
    assert not [r for r in caplog.records if r.name == "taskinbox.request"]
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("x" * 65, False), ("a b", False), ("<script>", False), ("", False)],
)
def test_a_request_id_from_the_proxy_is_kept_when_plain(
    settings: Any, caplog: pytest.LogCaptureFixture, given: str, kept: bool
) -> None:
    settings.LOG_FORMAT = "json"
    with caplog.at_level("INFO", logger="taskinbox.request"):
        response = Client(HTTP_X_REQUEST_ID=given).get("/healthz")
    (record,) = [r for r in caplog.records if r.name == "taskinbox.request"]
    assert record.request_id == response["X-Request-ID"]  # type: ignore[attr-defined]
    assert (response["X-Request-ID"] == given) is kept
