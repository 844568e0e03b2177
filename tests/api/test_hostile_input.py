"""Hostile input never makes a 500, and is refused clearly with nothing half-stored.

Run on SQLite and on PostgreSQL (``DATABASE_URL=postgres://...``): what each database
can hold differs (PostgreSQL's text and jsonb refuse NUL; SQLite stores a lone surrogate
that no page can then encode), so the refusals must happen before either sees the value.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from tests.support import events as f
from tests.support.asgi import chunked_post
from workflows.models import Event, HumanTask, IngestToken, WorkflowInstance

pytestmark = pytest.mark.django_db

SURROGATE = "\ud800"
NUL = "\x00"


def counts() -> tuple[int, int, int]:
    return Event.objects.count(), WorkflowInstance.objects.count(), HumanTask.objects.count()


def refused(response: Any, status: int, before: tuple[int, int, int]) -> list[dict[str, Any]]:
    assert response.status_code == status, response.content[:500]
    assert counts() == before, "nothing may be stored"
    body = response.json()
    assert set(body) <= {"errors", "more"}
    return body["errors"]


def post_raw(client: Client, text: str | bytes, **extra: Any) -> Any:
    return client.post("/api/events", text, content_type="application/json", **extra)


@pytest.fixture
def admin(db: Any) -> User:
    return User.objects.create_superuser("root", password="pw")


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


# --- 2. text that is not valid Unicode, and NUL, anywhere in an event -----------------------


def _placed(bad: str) -> list[tuple[dict[str, Any], str]]:
    iid, tid = f.new_id(), f.new_id()
    deep: dict[str, Any] = {"leaf": bad}
    for _ in range(10):
        deep = {"level": [deep]}
    schema = {"type": "object", "properties": {"a": {"type": "string", "title": bad}}}
    return [
        (f.workflow_started(iid, 0, workflow_name=f"pay{bad}"), "workflow_name"),
        (f.workflow_started(iid, 0, initial_data={"k": [1, {"x": bad}]}), "initial_data.k[1].x"),
        (
            f.workflow_started(iid, 0, initial_data=deep),
            "initial_data" + ".level[0]" * 10 + ".leaf",
        ),
        (f.human_task_created(iid, 0, tid, form_schema=schema), "form_schema.properties.a.title"),
        (f.step_completed(iid, 0, result={"out": bad}), "result.out"),
        (f.workflow_started(iid, 0, note=bad), "note"),  # an unknown field, kept as payload
    ]


@pytest.mark.parametrize("bad", [SURROGATE, NUL, "\udfff", f"ok{SURROGATE}ok"], ids=repr)
@pytest.mark.parametrize("with_event_id", [True, False])
def test_bad_text_in_any_field_is_422_naming_the_path(
    api_client: Client, bad: str, with_event_id: bool
) -> None:
    before = counts()
    for event, path in _placed(bad):
        if with_event_id:
            event["event_id"] = f.new_id()
        good = f.workflow_started(f.new_id(), 0)
        body = json.dumps([good, event])  # ensure_ascii: "\ud800" is sent as its JSON escape
        assert "\\ud800" in body or "\\udfff" in body or "\\u0000" in body
        errors = refused(post_raw(api_client, body), 422, before)
        assert [(e["index"], e["field"]) for e in errors] == [(1, path)], errors
        assert "NUL" in errors[0]["message"] or "not valid Unicode" in errors[0]["message"]


@pytest.mark.parametrize("bad", [SURROGATE, NUL])
def test_bad_text_in_a_key_is_422_naming_it_escaped(api_client: Client, bad: str) -> None:
    before = counts()
    iid = f.new_id()
    top = {**f.workflow_started(iid, 0), f"k{bad}": 1}
    nested = f.workflow_started(iid, 0, initial_data={"a": {f"k{bad}": 1}})
    escaped = "k\\ud800" if bad == SURROGATE else "k\\u0000"
    for event, path in ((top, escaped), (nested, f"initial_data.a.{escaped}")):
        (error,) = refused(post_raw(api_client, json.dumps(event)), 422, before)
        assert (error["index"], error["field"]) == (0, path)
        assert error["message"].startswith("key: ")
        json.dumps(error, ensure_ascii=False).encode()  # the answer itself is valid UTF-8


def test_ingest_events_command_refuses_bad_text(tmp_path: Path) -> None:
    iid = f.new_id()
    lines = [
        json.dumps(f.workflow_started(iid, 0)),
        json.dumps(f.workflow_started(iid, 1, initial_data={"x": SURROGATE})),
        json.dumps({**f.workflow_paused(iid, 2), "event_id": f.new_id(), "reason": NUL}),
        "[" * 100_000 + "]" * 100_000,
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stderr = io.StringIO()
    with pytest.raises(CommandError, match=r"3 bad lines .*\(lines 2-4\); nothing was stored"):
        call_command("ingest_events", str(path), verbosity=0, stderr=stderr)
    assert counts() == (0, 0, 0)
    report = stderr.getvalue()
    assert ":2: initial_data.x: text is not valid Unicode" in report
    assert ":3: reason: text must not contain NUL" in report
    assert ":4: not JSON: nested too deeply" in report


# --- 4. deep nesting, huge and non-finite numbers ---------------------------------------------


@pytest.mark.parametrize("depth", [63, 64, 65, 100, 320, 900])
def test_nesting_beyond_64_levels_is_422_naming_the_field(api_client: Client, depth: int) -> None:
    before = counts()
    # The event object is level 1, initial_data level 2: ``depth`` containers in all.
    nested: Any = {}
    for _ in range(depth - 2):
        nested = {"a": nested}
    event = f.workflow_started(f.new_id(), 0, initial_data=nested)
    response = post_raw(api_client, json.dumps(event))
    if depth <= 64:
        assert response.status_code == 200, response.content[:300]
        return
    (error,) = refused(response, 422, before)
    assert error["index"] == 0
    assert error["field"] == "initial_data" + ".a" * 63  # the first container at level 65
    assert "nested too deeply" in error["message"]


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, '{"events": ' + "[" * 50_000])
def test_nesting_too_deep_to_parse_is_400(api_client: Client, text: str) -> None:
    (error,) = refused(post_raw(api_client, text), 400, counts())
    assert error["index"] is None


@pytest.mark.parametrize(
    "literal", ["1" + "0" * 400, "1e400", "-1e400", "NaN", "Infinity", "-Infinity"]
)
@pytest.mark.parametrize("field", ["duration_seconds", "result", "output_data"])
def test_numbers_beyond_a_float_are_422_naming_the_field(
    api_client: Client, literal: str, field: str
) -> None:
    before = counts()
    event = f.step_completed(f.new_id(), 0)
    value = literal if field != "output_data" else f'{{"n": [{literal}]}}'
    text = json.dumps(event)[:-1] + f', "{field}": {value}}}'
    response = post_raw(api_client, text)
    if field != "duration_seconds" and literal.isdigit():
        # A big integer is exact JSON: kept as it is where any JSON value may be.
        assert response.status_code == 200, response.content
        payload = Event.objects.get().payload
        assert 10**400 in (payload["result"], (payload["output_data"] or {"n": [0]})["n"][0])
        return
    (error,) = refused(response, 422, before)
    assert (error["index"], error["field"]) == (
        0,
        field if field != "output_data" else "output_data.n[0]",
    )


# --- the action API: comment, reason and form data -------------------------------------------


@pytest.fixture
def open_task(admin: User) -> HumanTask:
    iid, tid = f.new_id(), f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid, assignee="root")])
    return HumanTask.objects.get(task_id=tid)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("action", "body", "status", "field"),
    [
        ("complete", {"comment": f"ok{NUL}"}, 422, "comment"),
        ("complete", {"comment": SURROGATE}, 422, "comment"),
        ("complete", {"comment": "c" * 5001}, 422, "comment"),
        ("complete", {"form_data": {"x": {"y": SURROGATE}}}, 422, "form_data.x.y"),
        ("complete", {"form_data": {f"k{NUL}": 1}}, 422, "form_data.k\\u0000"),
        ("complete", {"form_data": _deep(64)}, 422, "form_data" + ".a" * 63),
        ("complete", {"form_data": {"n": float("inf")}}, 422, "form_data.n"),
        ("reassign", {"to_assignee": "root2", "reason": "r" * 300_000}, 422, "reason"),
        ("reassign", {"to_assignee": "root2", "reason": f"why{NUL}"}, 422, "reason"),
        ("reassign", {"to_assignee": "root2", "reason": SURROGATE}, 422, "reason"),
        ("reassign", {"to_assignee": "u" * 201, "reason": "r"}, 422, "to_assignee"),
        ("reassign", {"to_assignee": f"root{NUL}", "reason": "r"}, 422, "to_assignee"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_action_api_refuses_bad_text_and_keeps_the_task_open(
    admin_client: Client, open_task: HumanTask, action: str, body: Any, status: int, field: str
) -> None:
    User.objects.create_user("root2")
    before = counts()
    text = json.dumps(body)  # float("inf") is sent as the Infinity literal
    response = admin_client.post(
        f"/api/tasks/{open_task.task_id}/{action}", text, content_type="application/json"
    )
    (error,) = refused(response, status, before)
    assert error["field"] == field
    open_task.refresh_from_db()
    assert open_task.is_open and open_task.assignee == "root"


def test_action_api_body_too_deep_to_parse_is_400(
    admin_client: Client, open_task: HumanTask
) -> None:
    text = '{"form_data": ' + '{"a": ' * 10_000 + "1" + "}" * 10_001
    response = admin_client.post(
        f"/api/tasks/{open_task.task_id}/complete", text, content_type="application/json"
    )
    refused(response, 400, counts())
    open_task.refresh_from_db()
    assert open_task.is_open


def test_the_same_limits_as_the_html_forms(admin_client: Client, open_task: HumanTask) -> None:
    from inbox.forms import CompletionForm, ReassignForm
    from workflows_ui.forms import CancelForm

    assert CompletionForm().fields["comment"].max_length == 5000  # type: ignore[attr-defined]
    assert ReassignForm().fields["reason"].max_length == 1000  # type: ignore[attr-defined]
    assert CancelForm().fields["reason"].max_length == 2000  # type: ignore[attr-defined]
    response = admin_client.post(
        f"/api/tasks/{open_task.task_id}/complete",
        {"comment": "c" * 5000},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content[:300]


def test_html_forms_refuse_nul_and_survive_bad_utf8(
    admin_client: Client, open_task: HumanTask
) -> None:
    url = f"/tasks/{open_task.task_id}/"
    before = counts()
    response = admin_client.post(url + "complete/", {"comment": f"a{NUL}b"})
    assert response.status_code == 422 and counts() == before
    response = admin_client.post(url + "reassign/", {"to_assignee": "root", "reason": NUL})
    assert response.status_code == 422 and counts() == before
    # A lone surrogate cannot be sent as form data: its UTF-8 bytes are invalid and Django
    # decodes them as U+FFFD, which is stored and shown like any other text.
    response = admin_client.post(
        url + "complete/",
        b"comment=%ED%A0%80",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 302
    assert admin_client.get(url).status_code == 200
    iid = open_task.instance_id
    response = admin_client.post(f"/workflows/{iid}/cancel/", {"reason": f"x{NUL}"})
    assert response.status_code == 200 and WorkflowInstance.objects.get(instance_id=iid).status


# --- 4. dates at the ends of the calendar, and garbage --------------------------------------


DATE_PAGES = [
    ("/workflows/", "started_from", "started_to"),
    ("/workflows/history/", "date_from", "date_to"),
    ("/workflows/history/audit/", "date_from", "date_to"),
    ("/workflows/export/instances.csv", "started_from", "started_to"),
    ("/workflows/export/tasks.csv", "date_from", "date_to"),
    ("/workflows/export/events.csv?scope=all&", "date_from", "date_to"),
]


@pytest.mark.parametrize(("url", "start", "end"), DATE_PAGES)
@pytest.mark.parametrize(
    "dates",
    [
        ("0001-01-01", "9999-12-31"),
        ("9999-12-31", "9999-12-31"),
        ("0001-01-01", "0001-01-01"),
        ("0000-00-00", "99999-01-01"),
        ("garbage", "2026-13-45"),
    ],
)
def test_date_filters_at_the_ends_of_the_calendar(
    admin_client: Client, url: str, start: str, end: str, dates: tuple[str, str]
) -> None:
    iid, tid = f.new_id(), f.new_id()
    f.ingest(
        [
            f.workflow_started(iid, "9999-12-31T23:59:59.999999Z"),
            f.human_task_created(iid, "0001-01-01T00:00:00Z", tid, assignee="root"),
            f.human_task_completed(iid, "9999-12-31T23:59:59Z", tid, completed_by="root"),
        ],
        source="dashboard:root",
    )
    joiner = "" if url.endswith("&") else "?"
    response = admin_client.get(f"{url}{joiner}{start}={dates[0]}&{end}={dates[1]}")
    assert response.status_code == 200
    if url.endswith(".csv") or ".csv?" in url:
        text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and all(len(r) == len(rows[0]) for r in rows)  # complete, not cut short


@pytest.mark.parametrize(
    "query",
    [
        "due_before=9999-12-31T23:59:59-05:00",
        "due_after=0001-01-01T00:00:00%2B01:00",
        "due_before=9999-12-31T23:59:59",
        "due_after=0001-01-01",
        "due_before=garbage",
    ],
)
def test_api_date_filters_at_the_ends_of_the_calendar(api_client: Client, query: str) -> None:
    response = api_client.get(f"/api/tasks?{query}")
    assert response.status_code in (200, 422), response.content[:300]
    if response.status_code == 422:
        (error,) = response.json()["errors"]
        assert error["field"] in ("due_before", "due_after")


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_action_after_a_last_event_at_the_end_of_time_is_refused(
    admin_client: Client, action: str
) -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, "9999-12-31T23:59:59.999999Z")])
    before = counts()
    response = admin_client.post(f"/workflows/{iid}/{action}/", {"reason": "stop"})
    assert response.status_code == 409
    assert "last instant" in response.content.decode()
    assert counts() == before
    assert WorkflowInstance.objects.get(instance_id=iid).status == WorkflowInstance.Status.RUNNING


def test_action_just_before_the_end_of_time_is_clamped(admin_client: Client) -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, "9999-12-31T23:59:59.9995Z")])
    response = admin_client.post(f"/workflows/{iid}/pause/", {"reason": "stop"})
    assert response.status_code == 302, response.content[:300]
    paused = Event.objects.get(instance_id=iid, type="WorkflowPaused")
    assert paused.timestamp.isoformat() == "9999-12-31T23:59:59.999999+00:00"
    assert WorkflowInstance.objects.get(instance_id=iid).status == WorkflowInstance.Status.PAUSED
    assert admin_client.get(f"/workflows/{iid}/").status_code == 200


# --- 5. error answers have a bound ------------------------------------------------------------


def test_100k_bad_items_give_100_problems_and_a_count(api_client: Client) -> None:
    text = "[" + ",".join(["1"] * 100_000) + "]"
    assert len(text) < 210_000
    response = post_raw(api_client, text)
    body = response.json()
    assert response.status_code == 422
    assert len(body["errors"]) == 100
    assert [e["index"] for e in body["errors"]] == list(range(100))
    assert body["more"] == 99_900
    assert len(response.content) < 20_000
    assert counts() == (0, 0, 0)


def test_few_problems_have_no_more_field(api_client: Client) -> None:
    body = post_raw(api_client, "[1, 2]").json()
    assert set(body) == {"errors"} and len(body["errors"]) == 2


# --- 6. status codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"type": "WorkflowStarted",', b"\xff\xfe", b'{"a": "\xed\xa0\x80"}']
)
def test_invalid_json_or_utf8_is_400(api_client: Client, body: bytes) -> None:
    (error,) = refused(post_raw(api_client, body), 400, counts())
    assert "not valid JSON" in error["message"]


def test_wrong_content_type_stays_415(api_client: Client) -> None:
    response = api_client.post("/api/events", "{}", content_type="text/plain")
    refused(response, 415, counts())


def _asgi_post(token: str, chunks: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """POST /api/events as a chunked body: no Content-Length."""
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    return chunked_post("/api/events", headers, chunks)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [3_000, 50_000])
def test_a_chunked_body_over_the_limit_is_the_json_413(size: int) -> None:
    _, token = IngestToken.issue("chunky")
    chunk = b" " * 1000
    with override_settings(INGEST_MAX_BODY_BYTES=2_000, DATA_UPLOAD_MAX_MEMORY_SIZE=10_000):
        status, headers, body = _asgi_post(token, [chunk] * (size // 1000) + [b"[]"])
    assert status == 413, body[:300]
    assert headers["content-type"] == "application/json"
    (error,) = json.loads(body)["errors"]
    assert "limit of 2000 bytes" in error["message"]
    assert Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_within_the_limit_is_read(db: Any) -> None:
    _, token = IngestToken.issue("chunky")
    text = json.dumps(f.workflow_started(f.new_id(), 0)).encode()
    status, _, body = _asgi_post(token, [text[:10], text[10:]])
    assert status == 200, body[:300]
    assert Event.objects.count() == 1
    assert uuid.UUID(json.loads(body)["results"][0]["event_id"])
