"""The wire format of events: parsing, normalisation, idempotency keys, rejections."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support import events as f
from workflows import events
from workflows.events import EVENT_TYPES
from workflows.wire import EventError, from_dataclass, parse_event, wire_from_dataclass

INSTANCE = "2b0d6f3e-0a53-4c6c-9f43-8a3a6d8b9e01"
TASK = "7f7c7d54-3f0c-4d6b-a0f8-91f8f4e1c2aa"


def _errors(obj: Any) -> dict[str, str]:
    with pytest.raises(EventError) as info:
        parse_event(obj)
    return {e.field: e.message for e in info.value.errors}


def test_every_builder_makes_a_valid_event_of_its_type() -> None:
    assert set(f.BUILDERS) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 13
    for type_name, build in f.BUILDERS.items():
        parsed = parse_event(build(INSTANCE, 0))
        assert parsed.type == type_name
        assert parsed.event.instance_id == uuid.UUID(INSTANCE)
        assert parsed.warnings == ()


# --- datetimes ---------------------------------------------------------------------------


def test_naive_datetime_is_taken_as_utc() -> None:
    naive = parse_event(f.workflow_started(INSTANCE, "2026-11-25T09:00:00"))
    assert naive.event.timestamp == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert naive.event.timestamp.utcoffset() == timedelta(0)


def test_datetimes_with_offsets_are_stored_in_utc_and_hash_alike() -> None:
    spellings = [
        "2026-11-25T09:00:00Z",
        "2026-11-25T09:00:00+00:00",
        "2026-11-25T10:30:00+01:30",
        "2026-11-25T09:00:00",
        "2026-11-25T09:00:00.000000",
    ]
    parsed = [parse_event(f.workflow_started(INSTANCE, s)) for s in spellings]
    assert {p.event.timestamp for p in parsed} == {datetime(2026, 11, 25, 9, tzinfo=UTC)}
    # Same instant, same fields: the same idempotency key, however it was spelled.
    assert len({p.event_id for p in parsed}) == 1
    assert {p.payload()["timestamp"] for p in parsed} == {"2026-11-25T09:00:00+00:00"}


def test_naive_due_at_is_taken_as_utc() -> None:
    parsed = parse_event(f.human_task_created(INSTANCE, 0, TASK, due_at="2026-12-01T17:00:00"))
    assert isinstance(parsed.event, events.HumanTaskCreated)
    assert parsed.event.due_at == datetime(2026, 12, 1, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-13-01T00:00:00", "", 1764061200, "9999-12-31T23:59:59-05:00"],
)
def test_bad_datetimes_are_refused_naming_the_field(value: Any) -> None:
    errors = _errors({**f.workflow_started(INSTANCE, 0), "timestamp": value})
    assert set(errors) == {"timestamp"}
    assert "datetime" in errors["timestamp"] or "date range" in errors["timestamp"]


# --- UUIDs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spell",
    [
        str,
        str.upper,
        lambda u: "{" + u + "}",
        lambda u: "urn:uuid:" + u,
        lambda u: u.replace("-", ""),
        lambda u: "  " + u.upper() + " ",
    ],
    ids=["plain", "upper", "braces", "urn", "hex", "padded"],
)
def test_uuids_in_any_standard_spelling(spell: Any) -> None:
    canonical = parse_event(f.human_task_created(INSTANCE, 0, TASK))
    parsed = parse_event(f.human_task_created(spell(INSTANCE), 0, spell(TASK)))
    assert parsed.event.instance_id == uuid.UUID(INSTANCE)
    assert parsed.event.task_id == uuid.UUID(TASK)  # type: ignore[attr-defined]
    assert parsed.event_id == canonical.event_id
    assert parsed.payload()["instance_id"] == INSTANCE
    assert parsed.payload()["task_id"] == TASK


def test_event_id_is_the_senders_when_given_in_any_spelling() -> None:
    given = uuid.uuid4()
    for spelling in (str(given), str(given).upper(), f"urn:uuid:{given}"):
        parsed = parse_event({**f.workflow_paused(INSTANCE, 0), "event_id": spelling})
        assert parsed.event_id == given
        assert parsed.event_id_given


def test_content_key_ignores_field_order_and_explicit_nulls() -> None:
    a = f.workflow_started(INSTANCE, 0, user_id="u1")
    b = dict(reversed(list(a.items())))
    c = {**a, "tenant_id": None, "initial_data": None}
    keys = {parse_event(x).event_id for x in (a, b, c)}
    assert len(keys) == 1
    assert not parse_event(a).event_id_given
    # A different field value is a different event.
    assert parse_event(f.workflow_started(INSTANCE, 0, user_id="u2")).event_id not in keys


# --- status strings, HumanTaskCreated extensions, unknown fields -------------------------


def test_status_strings_are_accepted_in_any_case() -> None:
    for status in ("COMPLETED", "completed", "Completed"):
        assert parse_event(f.workflow_completed(INSTANCE, 0, status=status)).event.status == status  # type: ignore[attr-defined]
    for step_type in ("HUMAN", "human"):
        parsed = parse_event(f.step_started(INSTANCE, 0, step_type=step_type))
        assert parsed.event.step_type == step_type  # type: ignore[attr-defined]


def test_form_schema_and_priority_on_human_task_created() -> None:
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    parsed = parse_event(f.human_task_created(INSTANCE, 0, TASK, form_schema=schema, priority=3))
    assert parsed.event.form_schema == schema  # type: ignore[attr-defined]
    assert parsed.event.priority == 3  # type: ignore[attr-defined]
    assert parsed.warnings == ()
    assert parsed.extra == {}


def test_invalid_form_schema_and_priority_are_refused() -> None:
    errors = _errors(f.human_task_created(INSTANCE, 0, TASK, form_schema={"type": "nonsense"}))
    assert "JSON Schema" in errors["form_schema"]
    errors = _errors(f.human_task_created(INSTANCE, 0, TASK, form_schema="{}", priority="high"))
    assert "object" in errors["form_schema"]
    assert "integer" in errors["priority"]
    errors = _errors(f.human_task_created(INSTANCE, 0, TASK, priority=10**12))
    assert "out of range" in errors["priority"]


def test_form_schema_on_another_type_is_an_unknown_field() -> None:
    parsed = parse_event(f.step_started(INSTANCE, 0, priority=5))
    assert parsed.extra == {"priority": 5}
    assert parsed.warnings == ("unknown field 'priority' kept but ignored",)


def test_unknown_fields_are_kept_in_the_payload_and_warned_about() -> None:
    obj = f.workflow_started(INSTANCE, 0, region="eu", trace={"id": "abc", "n": [1, 2]})
    parsed = parse_event(obj)
    assert parsed.extra == {"region": "eu", "trace": {"id": "abc", "n": [1, 2]}}
    assert parsed.payload()["region"] == "eu"
    assert parsed.payload()["trace"] == {"id": "abc", "n": [1, 2]}
    assert parsed.warnings == (
        "unknown field 'region' kept but ignored",
        "unknown field 'trace' kept but ignored",
    )
    # Unknown fields are part of the content, so they change the idempotency key.
    assert parsed.event_id != parse_event(f.workflow_started(INSTANCE, 0)).event_id


# --- refusals ----------------------------------------------------------------------------


def test_missing_required_fields_are_each_named() -> None:
    errors = _errors({"type": "HumanTaskCompleted", "instance_id": INSTANCE})
    assert set(errors) == {"timestamp", "step_name", "task_id", "completed_by"}
    assert all("required" in m for m in errors.values())


def test_required_field_sent_as_null_is_missing() -> None:
    errors = _errors(f.workflow_canceled(INSTANCE, 0, reason=None))
    assert errors == {"reason": "missing: this field is required"}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("workflow_name", 42, "string"),
        ("workflow_version", ["1"], "string"),
        ("initial_data", "not an object", "object"),
        ("initial_data", [1, 2], "object"),
        ("user_id", True, "string"),
    ],
)
def test_wrong_types_are_refused(field: str, value: Any, expected: str) -> None:
    errors = _errors(f.workflow_started(INSTANCE, 0, **{field: value}))
    assert set(errors) == {field}
    assert expected in errors[field]


@pytest.mark.parametrize(
    ("build", "field", "value", "expected"),
    [
        (f.step_failed, "retry_count", "3", "integer"),
        (f.step_failed, "retry_count", 1.5, "integer"),
        (f.step_failed, "retry_count", -1, "out of range"),
        (f.step_completed, "duration_seconds", "fast", "number"),
        (f.workflow_completed, "duration_seconds", True, "number"),
        (f.workflow_completed, "duration_seconds", float("nan"), "finite"),
    ],
)
def test_wrong_numbers_are_refused(build: Any, field: str, value: Any, expected: str) -> None:
    errors = _errors(build(INSTANCE, 0, **{field: value}))
    assert set(errors) == {field}
    assert expected in errors[field]


def test_integral_float_is_accepted_as_integer() -> None:
    assert parse_event(f.step_failed(INSTANCE, 0, retry_count=2.0)).event.retry_count == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["not-a-uuid", "", 12, "2b0d6f3e-0a53-4c6c-9f43"])
def test_bad_uuids_are_refused(value: Any) -> None:
    errors = _errors(f.human_task_created(INSTANCE, 0, value))
    assert set(errors) == {"task_id"}
    assert "UUID" in errors["task_id"]
    errors = _errors({**f.workflow_paused(INSTANCE, 0), "event_id": value})
    assert "UUID" in errors["event_id"]


@pytest.mark.parametrize("type_name", ["TaskCreated", "humantaskcreated", "", 7, None])
def test_unknown_or_missing_type_is_refused(type_name: Any) -> None:
    errors = _errors({**f.workflow_paused(INSTANCE, 0), "type": type_name})
    assert set(errors) == {"type"}
    assert "unknown event type" in errors["type"] or "required" in errors["type"]


@pytest.mark.parametrize("obj", ["WorkflowStarted", 3, None, [f.workflow_paused(INSTANCE, 0)]])
def test_non_object_events_are_refused(obj: Any) -> None:
    errors = _errors(obj)
    assert "must be a JSON object" in errors[""]


def test_text_the_database_cannot_hold_is_refused() -> None:
    errors = _errors(f.workflow_started(INSTANCE, 0, workflow_name="a\x00b"))
    assert "NUL" in errors["workflow_name"]
    errors = _errors(f.workflow_started(INSTANCE, 0, initial_data={"k": ["a\x00"]}))
    assert "NUL" in errors["initial_data.k[0]"]  # the path to the value
    errors = _errors(f.workflow_started(INSTANCE, 0, note="\x00"))
    assert "NUL" in errors["note"]
    errors = _errors(f.step_started(INSTANCE, 0, step_name="s" * 201))
    assert "at most 200" in errors["step_name"]
    # At the limit is fine.
    parse_event(f.step_started(INSTANCE, 0, step_name="s" * 200))


# --- litestar-workflows' own dataclasses --------------------------------------------------
# Look-alikes with the same class names and fields, so the package is not needed.


@dataclass
class _Base:
    instance_id: uuid.UUID
    timestamp: datetime


@dataclass
class WorkflowStarted(_Base):
    workflow_name: str
    workflow_version: str
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass
class WorkflowCompleted(_Base):
    status: str
    final_step: str | None = None
    duration_seconds: float | None = None


@dataclass
class WorkflowFailed(_Base):
    error: str
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


@dataclass
class WorkflowCanceled(_Base):
    reason: str
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass
class WorkflowPaused(_Base):
    reason: str | None = None
    paused_at_step: str | None = None


@dataclass
class WorkflowResumed(_Base):
    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass
class StepStarted(_Base):
    step_name: str
    step_type: str
    input_data: dict[str, Any] | None = None


@dataclass
class StepCompleted(_Base):
    step_name: str
    status: str
    result: Any = None
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


@dataclass
class StepFailed(_Base):
    step_name: str
    error: str
    error_type: str | None = None
    retry_count: int = 0


@dataclass
class StepSkipped(_Base):
    step_name: str
    reason: str | None = None


@dataclass
class HumanTaskCreated(_Base):
    step_name: str
    task_id: uuid.UUID
    assignee: str | None = None
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None


@dataclass
class HumanTaskCompleted(_Base):
    step_name: str
    task_id: uuid.UUID
    completed_by: str
    form_data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass
class HumanTaskReassigned(_Base):
    step_name: str
    task_id: uuid.UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    reassigned_by: str | None = None
    reason: str | None = None


_IID = uuid.UUID(INSTANCE)
_TID = uuid.UUID(TASK)
# The contract's own examples use datetime.utcnow(): naive, meaning UTC.
_NAIVE = datetime(2026, 11, 25, 9, 0, 0, 250000)
_WIRE_TS = "2026-11-25T09:00:00.250000Z"
_DUE = datetime(2026, 11, 26, 17, 0, tzinfo=timezone(timedelta(hours=1)))

PAIRS: list[tuple[Any, dict[str, Any]]] = [
    (
        WorkflowStarted(_IID, _NAIVE, "approval_flow", "1.0.0", {"document_id": "d1"}, "u1", "t1"),
        f.workflow_started(
            INSTANCE,
            _WIRE_TS,
            workflow_name="approval_flow",
            initial_data={"document_id": "d1"},
            user_id="u1",
            tenant_id="t1",
        ),
    ),
    (
        WorkflowCompleted(_IID, _NAIVE, "COMPLETED", "approve", 3600),
        f.workflow_completed(INSTANCE, _WIRE_TS, final_step="approve", duration_seconds=3600.0),
    ),
    (
        WorkflowFailed(_IID, _NAIVE, "db down", "validate", "ConnectionError", "Traceback"),
        f.workflow_failed(
            INSTANCE,
            _WIRE_TS,
            error="db down",
            failed_step="validate",
            error_type="ConnectionError",
            stack_trace="Traceback",
        ),
    ),
    (
        WorkflowCanceled(_IID, _NAIVE, "withdrawn", "user_123", "review"),
        f.workflow_canceled(INSTANCE, _WIRE_TS, canceled_by="user_123", current_step="review"),
    ),
    (
        WorkflowPaused(_IID, _NAIVE, "waiting for data", "ingest"),
        f.workflow_paused(INSTANCE, _WIRE_TS, reason="waiting for data", paused_at_step="ingest"),
    ),
    (
        WorkflowResumed(_IID, _NAIVE, "user_456", "process"),
        f.workflow_resumed(INSTANCE, _WIRE_TS, resumed_by="user_456", resuming_at_step="process"),
    ),
    (
        StepStarted(_IID, _NAIVE, "validate", "MACHINE", {"data": 1}),
        f.step_started(INSTANCE, _WIRE_TS, input_data={"data": 1}),
    ),
    (
        StepCompleted(_IID, _NAIVE, "validate", "SUCCEEDED", {"valid": True}, {"o": 1}, 1.5),
        f.step_completed(
            INSTANCE, _WIRE_TS, result={"valid": True}, output_data={"o": 1}, duration_seconds=1.5
        ),
    ),
    (
        StepFailed(_IID, _NAIVE, "api_call", "timeout", "TimeoutError", 3),
        f.step_failed(
            INSTANCE, _WIRE_TS, step_name="api_call", error_type="TimeoutError", retry_count=3
        ),
    ),
    (
        StepSkipped(_IID, _NAIVE, "notify", "disabled"),
        f.step_skipped(INSTANCE, _WIRE_TS, reason="disabled"),
    ),
    (
        HumanTaskCreated(_IID, _NAIVE, "approve", _TID, "managers", "Approve", "Please", _DUE),
        f.human_task_created(
            INSTANCE,
            _WIRE_TS,
            TASK.upper(),
            assignee="managers",
            title="Approve",
            description="Please",
            due_at="2026-11-26T16:00:00Z",
        ),
    ),
    (
        HumanTaskCompleted(_IID, _NAIVE, "approve", _TID, "mgr", {"approved": True}, "ok"),
        f.human_task_completed(
            INSTANCE, _WIRE_TS, TASK, completed_by="mgr", form_data={"approved": True}, comment="ok"
        ),
    ),
    (
        HumanTaskReassigned(_IID, _NAIVE, "approve", _TID, "u1", "u2", "admin", "vacation"),
        f.human_task_reassigned(
            INSTANCE,
            _WIRE_TS,
            TASK,
            from_assignee="u1",
            to_assignee="u2",
            reassigned_by="admin",
            reason="vacation",
        ),
    ),
]


def test_pairs_cover_every_event_type() -> None:
    assert {type(dc).__name__ for dc, _ in PAIRS} == set(EVENT_TYPES)


@pytest.mark.parametrize(("instance", "wire"), PAIRS, ids=[type(dc).__name__ for dc, _ in PAIRS])
def test_from_dataclass_gives_the_same_event_as_the_wire_json(
    instance: Any, wire: dict[str, Any]
) -> None:
    from_dc = from_dataclass(instance)
    from_json = parse_event(wire)
    assert from_dc.event == from_json.event
    assert from_dc.event_id == from_json.event_id
    assert from_dc.payload() == from_json.payload()
    assert from_dc.warnings == ()
    assert wire_from_dataclass(instance)["type"] == type(instance).__name__


def test_from_dataclass_refuses_other_objects() -> None:
    @dataclass
    class Unrelated:
        instance_id: uuid.UUID

    with pytest.raises(EventError, match="not a workflow event"):
        from_dataclass(Unrelated(_IID))
    with pytest.raises(EventError):
        from_dataclass({"type": "WorkflowStarted"})


@pytest.mark.django_db
def test_dataclass_and_wire_json_ingest_as_one_event() -> None:
    from workflows.models import Event

    result = f.ingest([from_dataclass(dc) for dc, _ in PAIRS])
    assert result.accepted == len(PAIRS)
    again = f.ingest([wire for _, wire in PAIRS])
    assert again.accepted == 0
    assert again.duplicates == len(PAIRS)
    assert Event.objects.count() == len(PAIRS)
