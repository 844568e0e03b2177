"""The core's management commands: create_ingest_token, ingest_events, rebuild_projections
(simulate and seed_demo are the demo app's: tests/demo)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from demo.users import ensure_demo_users
from tests.support import events as f
from tests.support.commands import run, small_history, snapshot
from workflows.models import Event, HumanTask, IngestToken, StepRun, WorkflowInstance

pytestmark = pytest.mark.django_db


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    """Write each item as a line: dicts as JSON, strings verbatim."""
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


@pytest.fixture
def demo() -> None:
    ensure_demo_users()


# --- create_ingest_token ----------------------------------------------------------------------


def test_create_ingest_token_prints_a_working_token_once_and_stores_its_hash() -> None:
    out, err = run("create_ingest_token", "billing-engine")

    raw = out.strip()
    assert raw.startswith("tki_")
    assert "shown only once" in err
    token = IngestToken.objects.get(name="billing-engine")
    assert token.token_hash == IngestToken.hash(raw)
    assert raw not in token.token_hash
    assert IngestToken.authenticate(raw) == token


def test_create_ingest_token_refuses_a_name_in_use() -> None:
    run("create_ingest_token", "engine")

    with pytest.raises(CommandError, match="'engine' already exists"):
        run("create_ingest_token", "engine")
    assert IngestToken.objects.count() == 1


def test_an_issued_token_is_accepted_by_the_api(client: Any) -> None:
    raw = run("create_ingest_token", "engine")[0].strip()

    response = f.post_events(client, small_history(), HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200, response.content
    assert Event.objects.get(type="WorkflowStarted").source == "token:engine"


def test_create_ingest_token_defaults_to_events_write_only() -> None:
    _, err = run("create_ingest_token", "engine")
    assert IngestToken.objects.get().scopes == ["events:write"]
    assert "scopes events:write" in err


def test_create_ingest_token_takes_scopes(client: Any) -> None:
    raw = run("create_ingest_token", "reporting", "--scope", "read", "--scope", "events:write")[
        0
    ].strip()
    assert IngestToken.objects.get().scopes == ["events:write", "read"]
    assert client.get("/api/tasks", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_create_ingest_token_refuses_an_unknown_scope() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'admin'"):
        run("create_ingest_token", "engine", "--scope", "admin")
    assert not IngestToken.objects.exists()


def test_revoke_ingest_token_refuses_further_requests(client: Any) -> None:
    raw = run("create_ingest_token", "engine")[0].strip()
    run("create_ingest_token", "other")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert f.post_events(client, small_history(), **auth).status_code == 200

    _, err = run("revoke_ingest_token", "engine")

    assert "Revoked token 'engine'" in err
    assert f.post_events(client, small_history(), **auth).status_code == 401
    assert IngestToken.objects.get(name="engine").revoked
    assert not IngestToken.objects.get(name="other").revoked
    assert "already revoked" in run("revoke_ingest_token", "engine")[1]


def test_revoke_ingest_token_names_the_tokens_when_the_name_is_unknown() -> None:
    run("create_ingest_token", "engine")
    with pytest.raises(CommandError, match=r"no token named 'engin' \(tokens: engine\)"):
        run("revoke_ingest_token", "engin")


# --- ingest_events ---------------------------------------------------------------------------


def test_ingest_events_replays_a_file_and_prints_a_summary(tmp_path: Path, demo: None) -> None:
    events = small_history() + small_history()
    path = write_jsonl(tmp_path / "events.jsonl", events)

    out, _ = run("ingest_events", str(path), "--batch-size", "3")

    assert "10 accepted, 0 duplicates, 10 lines" in out
    assert Event.objects.count() == 10
    assert set(Event.objects.values_list("source", flat=True)) == {"cli:events.jsonl"}
    assert WorkflowInstance.objects.filter(status="completed").count() == 2
    task = HumanTask.objects.first()
    assert task is not None and task.completed_by_user == User.objects.get(username="alice")


def test_replaying_the_same_file_reports_duplicates_and_changes_nothing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", small_history())
    run("ingest_events", str(path))
    before = snapshot()

    out, _ = run("ingest_events", str(path), "--source", "cli:again")

    assert "0 accepted, 5 duplicates, 5 lines" in out
    assert Event.objects.count() == 5
    assert not Event.objects.filter(source="cli:again").exists()
    assert snapshot() == before


def test_bad_lines_are_reported_by_line_number_and_nothing_is_stored(tmp_path: Path) -> None:
    good = small_history()
    bad_event = dict(good[1], timestamp="yesterday-ish")
    missing = {k: v for k, v in good[2].items() if k != "task_id"}
    path = write_jsonl(
        tmp_path / "events.jsonl",
        [good[0], "", bad_event, "{not json", missing, good[3], "[1, 2]", good[4]],
    )

    err = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("ingest_events", str(path), stdout=io.StringIO(), stderr=err)

    message = str(excinfo.value)
    assert "4 bad lines" in message
    assert "lines 3-5, 7" in message
    assert "nothing was stored" in message
    report = err.getvalue()
    assert f"{path}:3: timestamp: 'yesterday-ish' is not an ISO 8601 datetime" in report
    assert f"{path}:4: not JSON" in report
    assert f"{path}:5: task_id: missing" in report
    assert f"{path}:7: an event must be a JSON object" in report
    assert f"{path}:1:" not in report and f"{path}:8:" not in report
    assert Event.objects.count() == 0
    assert WorkflowInstance.objects.count() == 0


def test_a_task_claimed_by_two_instances_is_refused_with_its_line(tmp_path: Path) -> None:
    task = f.new_id()
    first = f.human_task_created(f.new_id(), 1, step_name="a", task_id=task)
    second = f.human_task_created(f.new_id(), 2, step_name="a", task_id=task)
    path = write_jsonl(tmp_path / "events.jsonl", [first, second])

    with pytest.raises(CommandError, match=r"line 2\)"):
        run("ingest_events", str(path))
    assert Event.objects.count() == 0


def test_ingest_events_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = "\n".join(json.dumps(e) for e in small_history())
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))

    out, _ = run("ingest_events", "-")

    assert "5 accepted" in out
    assert set(Event.objects.values_list("source", flat=True)) == {"cli:stdin"}


def test_ingest_events_with_a_missing_file_says_so() -> None:
    with pytest.raises(CommandError, match=r"cannot read /nonexistent/x\.jsonl"):
        run("ingest_events", "/nonexistent/x.jsonl")


def test_a_blank_file_stores_nothing_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")

    out, _ = run("ingest_events", str(path))

    assert "no events" in out
    assert Event.objects.count() == 0


# --- rebuild_projections ---------------------------------------------------------------------


def test_rebuild_gives_identical_projections(demo: None) -> None:
    run("simulate", "--workflows", "12", "--seed", "4")
    before = snapshot()
    assert before["tasks"] and before["steps"]
    # Damage the projections the way a bug or a hand edit would.
    HumanTask.objects.filter(status="open").update(title="edited by hand", status="canceled")
    WorkflowInstance.objects.filter(status="completed").first().delete()  # type: ignore[union-attr]
    StepRun.objects.filter(status="failed").update(error="")
    assert snapshot() != before

    out, _ = run("rebuild_projections", "--chunk-size", "5")

    assert snapshot() == before
    assert f"Rebuilt 12 instances, {len(before['steps'])} step runs" in out
    assert f"{len(before['tasks'])} tasks from {Event.objects.count()} events" in out


def test_rebuild_keeps_the_version_counters_of_peoples_actions(demo: None) -> None:
    f.ingest(small_history()[:3])
    task = HumanTask.objects.get()
    HumanTask.objects.filter(pk=task.pk).update(version=3)

    run("rebuild_projections")

    assert HumanTask.objects.get(task_id=task.task_id).version == 3


def test_rebuild_drops_rows_no_event_supports() -> None:
    WorkflowInstance.objects.create(instance_id="00000000-0000-4000-8000-000000000001")

    run("rebuild_projections")

    assert WorkflowInstance.objects.count() == 0
