"""The HTTP API as a client sees it: POST /api/events and the read endpoints."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client, override_settings

from tests.support import events as f
from workflows.models import Event, IngestToken

pytestmark = pytest.mark.django_db


def errors_of(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]


def assert_refused(response: Any, status: int, *, before: int = 0) -> list[dict[str, Any]]:
    assert response.status_code == status, response.content
    assert Event.objects.count() == before
    return errors_of(response)


# --- POST /api/events: accepted ------------------------------------------------------------


@pytest.mark.parametrize("shape", ["single", "array", "wrapped"])
def test_post_one_event_an_array_or_wrapped(api_client: Client, shape: str) -> None:
    iid, tid = f.new_id(), f.new_id()
    events = [f.workflow_started(iid, 0), f.human_task_created(iid, 1, tid)]
    body: Any = {"single": events[1], "array": events, "wrapped": {"events": events}}[shape]
    response = f.post_events(api_client, body)
    assert response.status_code == 200, response.content
    data = response.json()
    n = 1 if shape == "single" else 2
    assert (data["accepted"], data["duplicates"]) == (n, 0)
    assert [r["index"] for r in data["results"]] == list(range(n))
    assert all(r["status"] == "accepted" for r in data["results"])
    stored = {str(e.event_id) for e in Event.objects.all()}
    assert {r["event_id"] for r in data["results"]} == stored
    assert Event.objects.get(type="HumanTaskCreated").source == "token:test-engine"
    tasks = api_client.get("/api/tasks").json()["items"]
    assert [t["task_id"] for t in tasks] == [tid]


def test_warnings_for_unknown_fields_are_reported_and_the_fields_kept(api_client: Client) -> None:
    iid = f.new_id()
    response = f.post_events(
        api_client, [f.workflow_started(iid, 0, region="eu"), f.workflow_paused(iid, 1)]
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["warnings"] == ["unknown field 'region' kept but ignored"]
    assert results[1]["warnings"] == []
    assert Event.objects.get(type="WorkflowStarted").payload["region"] == "eu"
    timeline = api_client.get(f"/api/instances/{iid}").json()["timeline"]
    assert timeline[0]["payload"]["region"] == "eu"


def test_the_same_event_and_batch_twice_are_duplicates(api_client: Client) -> None:
    iid, tid = f.new_id(), f.new_id()
    batch = [
        f.workflow_started(iid, 0),
        f.human_task_created(iid, 1, tid),
        {**f.workflow_paused(iid, 2), "event_id": f.new_id()},
    ]
    first = f.post_events(api_client, batch).json()
    detail = api_client.get(f"/api/instances/{iid}").json()
    tasks = api_client.get("/api/tasks").json()
    second = f.post_events(api_client, {"events": batch}).json()
    single = f.post_events(api_client, batch[1]).json()
    assert (first["accepted"], first["duplicates"]) == (3, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 3)
    assert [r["status"] for r in second["results"]] == ["duplicate"] * 3
    assert [r["event_id"] for r in second["results"]] == [r["event_id"] for r in first["results"]]
    assert single["results"] == [
        {
            "index": 0,
            "event_id": first["results"][1]["event_id"],
            "status": "duplicate",
            "warnings": [],
        }
    ]
    assert Event.objects.count() == 3
    assert api_client.get(f"/api/instances/{iid}").json() == detail
    assert api_client.get("/api/tasks").json() == tasks


def test_a_duplicate_inside_one_batch(api_client: Client) -> None:
    event = f.workflow_started(f.new_id(), 0)
    data = f.post_events(api_client, [event, event]).json()
    assert (data["accepted"], data["duplicates"]) == (1, 1)
    assert [r["status"] for r in data["results"]] == ["accepted", "duplicate"]
    assert Event.objects.count() == 1


def test_charset_in_the_content_type_is_fine(api_client: Client) -> None:
    response = api_client.post(
        "/api/events",
        json.dumps(f.workflow_started(f.new_id(), 0)),
        content_type="application/json; charset=utf-8",
    )
    assert response.status_code == 200
    assert IngestToken.objects.get().last_used_at is not None


# --- POST /api/events: refused, nothing stored ---------------------------------------------


def test_missing_field(api_client: Client) -> None:
    event = f.human_task_created(f.new_id(), 0)
    del event["step_name"]
    errors = assert_refused(f.post_events(api_client, event), 422)
    assert errors == [
        {"index": 0, "field": "step_name", "message": "missing: this field is required"}
    ]


def test_wrong_type(api_client: Client) -> None:
    response = f.post_events(api_client, f.step_failed(f.new_id(), 0, retry_count="three"))
    (error,) = assert_refused(response, 422)
    assert (error["index"], error["field"]) == (0, "retry_count")
    assert "integer" in error["message"]


def test_unknown_type(api_client: Client) -> None:
    response = f.post_events(api_client, {**f.workflow_started(f.new_id(), 0), "type": "Bogus"})
    (error,) = assert_refused(response, 422)
    assert (error["index"], error["field"]) == (0, "type")
    assert "unknown event type 'Bogus'" in error["message"]


def test_bad_uuid(api_client: Client) -> None:
    response = f.post_events(api_client, f.workflow_started("not-a-uuid", 0))
    (error,) = assert_refused(response, 422)
    assert (error["index"], error["field"]) == (0, "instance_id")
    assert "not a UUID" in error["message"]


def test_bad_datetime(api_client: Client) -> None:
    response = f.post_events(api_client, f.workflow_started(f.new_id(), "25/11/2026 09:00"))
    (error,) = assert_refused(response, 422)
    assert (error["index"], error["field"]) == (0, "timestamp")
    assert "ISO 8601" in error["message"]


@pytest.mark.parametrize("item", ["WorkflowStarted", 42, None, [1]])
def test_non_object_event(api_client: Client, item: Any) -> None:
    (error,) = assert_refused(f.post_events(api_client, [item]), 422)
    assert error["index"] == 0
    assert "must be a JSON object" in error["message"]


@pytest.mark.parametrize("body", ['"just a string"', "42", "null", "true"])
def test_non_object_body(api_client: Client, body: str) -> None:
    response = api_client.post("/api/events", body, content_type="application/json")
    (error,) = assert_refused(response, 422)
    assert error["index"] is None
    assert "expected an event object" in error["message"]


def test_events_key_that_is_not_an_array(api_client: Client) -> None:
    (error,) = assert_refused(f.post_events(api_client, {"events": {"type": "x"}}), 422)
    assert (error["index"], error["field"]) == (None, "events")
    assert "array" in error["message"]


@pytest.mark.parametrize("body", [[], {"events": []}])
def test_empty_batch(api_client: Client, body: Any) -> None:
    (error,) = assert_refused(f.post_events(api_client, body), 422)
    assert error["index"] is None
    assert "empty" in error["message"]


def test_one_bad_event_inside_a_good_batch(api_client: Client) -> None:
    iid = f.new_id()
    f.post_events(api_client, f.workflow_started(iid, 0))
    batch = [
        f.step_started(iid, 1),
        f.step_completed(iid, 2),
        f.human_task_created(iid, 3, "12345"),
        f.workflow_completed(iid, 4),
    ]
    before = api_client.get(f"/api/instances/{iid}").json()
    errors = assert_refused(f.post_events(api_client, {"events": batch}), 422, before=1)
    assert [(e["index"], e["field"]) for e in errors] == [(2, "task_id")]
    assert api_client.get(f"/api/instances/{iid}").json() == before


def test_every_problem_of_a_batch_is_named(api_client: Client) -> None:
    batch = [
        {"type": "WorkflowStarted", "instance_id": "x", "timestamp": "y"},
        f.workflow_paused(f.new_id(), 0),
        "oops",
    ]
    errors = assert_refused(f.post_events(api_client, batch), 422)
    found = {(e["index"], e["field"]) for e in errors}
    assert found == {
        (0, "instance_id"),
        (0, "timestamp"),
        (0, "workflow_name"),
        (0, "workflow_version"),
        (2, ""),
    }


def test_a_task_claimed_by_two_instances(api_client: Client) -> None:
    tid = f.new_id()
    owner = f.new_id()
    f.post_events(api_client, f.human_task_created(owner, 0, tid))
    response = f.post_events(api_client, f.human_task_completed(f.new_id(), 1, tid))
    (error,) = assert_refused(response, 422, before=1)
    assert (error["index"], error["field"]) == (0, "task_id")
    assert f"belongs to instance {owner}" in error["message"]


@pytest.mark.parametrize("body", [b"{not json", b'{"type": "WorkflowStarted",', b"\xff\xfe"])
def test_non_json_body(api_client: Client, body: bytes) -> None:
    response = api_client.post("/api/events", body, content_type="application/json")
    (error,) = assert_refused(response, 400)  # 415 is for a wrong Content-Type only
    assert "not valid JSON" in error["message"]


def test_nan_is_not_json(api_client: Client) -> None:
    body = '{"type": "StepCompleted", "instance_id": "%s", "timestamp": "2026-01-01T00:00:00",'
    body += ' "step_name": "s", "status": "ok", "result": NaN}'
    response = api_client.post("/api/events", body % f.new_id(), content_type="application/json")
    (error,) = assert_refused(response, 422)
    assert error["field"] == "result"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type(api_client: Client, content_type: str) -> None:
    body = json.dumps(f.workflow_started(f.new_id(), 0))
    response = api_client.post("/api/events", body, content_type=content_type)
    (error,) = assert_refused(response, 415)
    assert "application/json" in error["message"]
    assert content_type in error["message"]


def test_over_the_size_limit(api_client: Client) -> None:
    body = [f.workflow_started(f.new_id(), 0, initial_data={"pad": "x" * 400})]
    size = len(json.dumps(body))
    with override_settings(INGEST_MAX_BODY_BYTES=size - 1):
        (error,) = assert_refused(f.post_events(api_client, body), 413)
    assert f"the limit is {size - 1}" in error["message"]
    with override_settings(INGEST_MAX_BODY_BYTES=size):
        assert f.post_events(api_client, body).status_code == 200


def test_no_token(client: Client) -> None:
    response = f.post_events(client, f.workflow_started(f.new_id(), 0))
    (error,) = assert_refused(response, 401)
    assert error["field"] == "Authorization"
    assert "Bearer" in error["message"]
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header", ["Bearer tki_wrong", "Token abc", "Bearer ", "Basic Zm9vOmJhcg=="]
)
def test_wrong_token(api_token: str, header: str) -> None:
    client = Client(HTTP_AUTHORIZATION=header)
    (error,) = assert_refused(f.post_events(client, f.workflow_started(f.new_id(), 0)), 401)
    assert error["field"] == "Authorization"
    assert "not valid" in error["message"]


def test_revoked_token(api_client: Client) -> None:
    IngestToken.objects.update(revoked=True)
    (error,) = assert_refused(f.post_events(api_client, f.workflow_started(f.new_id(), 0)), 401)
    assert "revoked" in error["message"]
    assert api_client.get("/api/tasks").status_code == 401


def test_a_signed_in_person_cannot_post_events(client: Client) -> None:
    admin = User.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    (error,) = assert_refused(f.post_events(client, f.workflow_started(f.new_id(), 0)), 401)
    assert "Bearer" in error["message"]


def test_tokens_are_stored_hashed(api_token: str) -> None:
    token = IngestToken.objects.get()
    assert api_token not in (token.token_hash, token.prefix)
    assert token.token_hash == IngestToken.hash(api_token)


# --- read API ------------------------------------------------------------------------------


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    alice = User.objects.create_user("alice", password="pw")
    bob = User.objects.create_user("bob", password="pw")
    managers = Group.objects.create(name="managers")
    bob.groups.add(managers)
    boss = User.objects.create_user("boss", password="pw")
    boss.user_permissions.add(Permission.objects.get(codename="view_history"))
    return {"alice": alice, "bob": bob, "boss": boss, "managers": managers}


@pytest.fixture
def tasks(people: dict[str, Any]) -> dict[str, str]:
    """Four tasks in two instances, for alice, the managers group, nobody, and a done one."""
    first, second = f.new_id(), f.new_id()
    ids = {name: f.new_id() for name in ("alice", "managers", "nobody", "done")}
    f.ingest(
        [
            f.workflow_started(first, 0, workflow_name="expense_approval"),
            f.workflow_started(second, 0, workflow_name="onboarding"),
            f.human_task_created(
                first, 1, ids["alice"], assignee="alice", due_at="2026-11-26T12:00:00Z"
            ),
            f.human_task_created(
                first, 2, ids["managers"], assignee="managers", due_at="2026-11-28T12:00:00Z"
            ),
            f.human_task_created(second, 3, ids["nobody"], assignee="ghost"),
            f.human_task_created(second, 4, ids["done"], assignee="alice"),
            f.human_task_completed(second, 5, ids["done"], completed_by="alice"),
        ]
    )
    return {**ids, "first": first, "second": second}


def task_ids(client: Client, query: str = "") -> list[str]:
    response = client.get("/api/tasks" + query)
    assert response.status_code == 200, response.content
    return [t["task_id"] for t in response.json()["items"]]


def test_tasks_for_a_token_are_all_tasks_newest_first(
    api_client: Client, tasks: dict[str, str]
) -> None:
    body = api_client.get("/api/tasks").json()
    assert body["count"] == 4
    assert [t["task_id"] for t in body["items"]] == [
        tasks["done"],
        tasks["nobody"],
        tasks["managers"],
        tasks["alice"],
    ]
    first = body["items"][-1]
    assert first["workflow_name"] == "expense_approval"
    assert first["assignee_user"] == "alice"
    assert first["assignee_group"] is None
    assert body["items"][-2]["assignee_group"] == "managers"


def test_task_filters(api_client: Client, tasks: dict[str, str]) -> None:
    assert task_ids(api_client, "?assignee=alice") == [tasks["done"], tasks["alice"]]
    assert task_ids(api_client, "?assignee=managers") == [tasks["managers"]]
    assert task_ids(api_client, "?assignee=ghost") == [tasks["nobody"]]
    assert task_ids(api_client, "?status=completed") == [tasks["done"]]
    assert task_ids(api_client, "?status=OPEN") == [
        tasks["nobody"],
        tasks["managers"],
        tasks["alice"],
    ]
    assert task_ids(api_client, "?due_before=2026-11-27T00:00:00Z") == [tasks["alice"]]
    assert task_ids(api_client, "?due_after=2026-11-27T00:00:00Z") == [tasks["managers"]]
    both = "?due_after=2026-11-26T00:00:00Z&due_before=2026-11-29T00:00:00Z"
    assert task_ids(api_client, both) == [tasks["managers"], tasks["alice"]]
    assert task_ids(api_client, f"?instance_id={tasks['second']}") == [
        tasks["done"],
        tasks["nobody"],
    ]
    assert task_ids(api_client, f"?instance_id={tasks['second']}&status=open") == [tasks["nobody"]]
    assert task_ids(api_client, "?assignee=alice&status=open") == [tasks["alice"]]


def test_task_list_is_paginated(api_client: Client, tasks: dict[str, str]) -> None:
    body = api_client.get("/api/tasks?limit=1&offset=1").json()
    assert body["count"] == 4
    assert [t["task_id"] for t in body["items"]] == [tasks["nobody"]]


def test_bad_filter_values_are_422(api_client: Client, tasks: dict[str, str]) -> None:
    for query, field in (("?instance_id=nope", "instance_id"), ("?due_before=soon", "due_before")):
        response = api_client.get("/api/tasks" + query)
        assert response.status_code == 422
        # The documented shape of every refusal (ErrorsOut), not ninja's {"detail": [...]}.
        (error,) = errors_of(response)
        assert (error["index"], error["field"]) == (None, field)


def test_a_person_sees_their_own_and_their_groups_tasks(
    client: Client, people: dict[str, Any], tasks: dict[str, str]
) -> None:
    client.force_login(people["alice"])
    assert task_ids(client) == [tasks["done"], tasks["alice"]]
    client.force_login(people["bob"])
    assert task_ids(client) == [tasks["managers"]]
    # Filters cannot widen what a person sees.
    assert task_ids(client, "?assignee=alice") == []
    client.force_login(people["boss"])
    assert len(task_ids(client)) == 4


def test_anonymous_reads_are_refused(client: Client, tasks: dict[str, str]) -> None:
    for url in ("/api/tasks", "/api/instances", f"/api/instances/{tasks['first']}"):
        assert client.get(url).status_code == 401


def test_instances_list(api_client: Client, client: Client, people: Any, tasks: Any) -> None:
    body = api_client.get("/api/instances").json()
    assert body["count"] == 2
    assert {i["instance_id"] for i in body["items"]} == {tasks["first"], tasks["second"]}
    by_id = {i["instance_id"]: i for i in body["items"]}
    assert by_id[tasks["first"]]["status"] == "waiting"
    assert by_id[tasks["first"]]["workflow_name"] == "expense_approval"
    assert by_id[tasks["second"]]["event_count"] == 4
    filtered = api_client.get("/api/instances?workflow=onboarding").json()["items"]
    assert [i["instance_id"] for i in filtered] == [tasks["second"]]
    assert api_client.get("/api/instances?status=completed").json()["count"] == 0
    client.force_login(people["bob"])
    mine = client.get("/api/instances").json()["items"]
    assert [i["instance_id"] for i in mine] == [tasks["first"]]


def test_instance_detail_timeline_is_in_fold_order(api_client: Client) -> None:
    iid, tid = f.new_id(), f.new_id()
    # Sent in the wrong order, two of them at the same instant.
    events = [
        f.workflow_completed(iid, 5),
        f.human_task_completed(iid, 4, tid),
        f.human_task_created(iid, 2, tid),
        f.step_started(iid, 2, "approve"),
        f.workflow_started(iid, 0),
    ]
    for event in events:
        assert f.post_events(api_client, event).status_code == 200
    body = api_client.get(f"/api/instances/{iid}").json()
    assert [e["type"] for e in body["timeline"]] == [
        "WorkflowStarted",
        "StepStarted",
        "HumanTaskCreated",
        "HumanTaskCompleted",
        "WorkflowCompleted",
    ]
    seqs = [e["seq"] for e in body["timeline"]]
    assert seqs == sorted(seqs, reverse=True)  # the reverse of arrival
    assert all(e["source"] == "token:test-engine" for e in body["timeline"])
    assert body["timeline"][0]["timestamp"].startswith("2026-11-25T09:00:00")
    assert body["status"] == "completed"
    assert body["tasks"][0]["status"] == "completed"


def test_instance_detail_404_and_scoping(
    api_client: Client, client: Client, people: Any, tasks: Any
) -> None:
    assert api_client.get(f"/api/instances/{uuid.uuid4()}").status_code == 404
    assert api_client.get("/api/instances/not-a-uuid").status_code == 422
    client.force_login(people["bob"])
    assert client.get(f"/api/instances/{tasks['first']}").status_code == 200
    assert client.get(f"/api/instances/{tasks['second']}").status_code == 404
    # The same id in another spelling is the same instance.
    assert api_client.get(f"/api/instances/{tasks['first'].upper()}").status_code == 200


def test_openapi_lists_the_endpoints(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"]
    paths = spec["paths"]
    assert "post" in paths["/api/events"]
    assert "get" in paths["/api/tasks"]
    assert "get" in paths["/api/instances"]
    assert "get" in paths["/api/instances/{instance_id}"]
    post = paths["/api/events"]["post"]
    assert {"200", "401", "413", "415", "422"} <= set(post["responses"])
    assert "requestBody" in post
    assert "bearer" in json.dumps(spec["components"]["securitySchemes"]).lower()
    # Every $ref resolves to a schema that exists.
    schemas = spec["components"]["schemas"]
    refs = {ref.rsplit("/", 1)[1] for ref in _refs(spec) if ref.startswith("#/components/schemas/")}
    assert refs <= set(schemas)
    assert client.get("/api/docs").status_code == 200


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        (f.workflow_started(f.new_id(), 0, workflow_name="a\x00b"), "workflow_name", "NUL"),
        (
            f.workflow_started(f.new_id(), 0, initial_data={"\x00": 1}),
            "initial_data.\\u0000",
            "NUL",
        ),
        (f.step_started(f.new_id(), 0, step_name="s" * 201), "step_name", "at most 200"),
        (f.human_task_created(f.new_id(), 0, title="t" * 501), "title", "at most 500"),
        (f.step_failed(f.new_id(), 0, retry_count=-1), "retry_count", "out of range"),
        (f.human_task_created(f.new_id(), 0, priority=2**31), "priority", "out of range"),
        (
            {**f.workflow_paused(f.new_id(), 0), "timestamp": "0001-01-01T00:00:00+01:00"},
            "timestamp",
            "date range",
        ),
    ],
    ids=["nul", "nul-key", "long-step", "long-title", "retry", "priority", "year-0"],
)
def test_values_the_database_cannot_hold_are_422_not_500(
    api_client: Client, event: dict[str, Any], field: str, message: str
) -> None:
    (error,) = assert_refused(f.post_events(api_client, event), 422)
    assert (error["index"], error["field"]) == (0, field)
    assert message in error["message"]


@pytest.mark.django_db
def test_an_assignee_sees_only_their_own_tasks_of_a_shared_instance() -> None:
    from django.contrib.auth.models import User

    alice = User.objects.create_user("alice", password="pw")
    User.objects.create_user("bob", password="pw")
    iid, mine, theirs = f.new_id(), f.new_id(), f.new_id()
    f.ingest(
        [
            f.workflow_started(iid, 0),
            f.human_task_created(iid, 1, task_id=mine, assignee="alice", title="Mine"),
            f.human_task_created(iid, 2, task_id=theirs, assignee="bob", title="Bob's"),
            f.human_task_completed(
                iid, 3, task_id=theirs, completed_by="bob", form_data={"salary": 123}
            ),
        ]
    )
    client = Client()
    client.force_login(alice)
    body = client.get(f"/api/instances/{iid}").json()
    assert [t["task_id"] for t in body["tasks"]] == [mine]
    seen = {e["payload"].get("task_id") for e in body["timeline"]}
    assert theirs not in seen and mine in seen
    assert "salary" not in json.dumps(body)
