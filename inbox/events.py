"""The event contract: the thirteen workflow domain events and their wire format.

The field names and meanings follow litestar-workflows' ``core.events`` module. On the
wire an event is one JSON object: ``type`` (the class name), an optional ``event_id``
(UUID) and the fields by name. ``parse_event`` turns such an object into a typed event,
or raises ``EventError`` naming every problem; nothing here touches the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonschema

from inbox.schemacheck import plainly_valid


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    instance_id: uuid.UUID
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class WorkflowStarted(WorkflowEvent):
    workflow_name: str
    workflow_version: str
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCompleted(WorkflowEvent):
    status: str
    final_step: str | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class WorkflowFailed(WorkflowEvent):
    error: str
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCanceled(WorkflowEvent):
    reason: str
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowPaused(WorkflowEvent):
    reason: str | None = None
    paused_at_step: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowResumed(WorkflowEvent):
    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass(frozen=True, slots=True)
class StepStarted(WorkflowEvent):
    step_name: str
    step_type: str
    input_data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StepCompleted(WorkflowEvent):
    step_name: str
    status: str
    result: Any = None
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StepFailed(WorkflowEvent):
    step_name: str
    error: str
    error_type: str | None = None
    retry_count: int = 0


@dataclass(frozen=True, slots=True)
class StepSkipped(WorkflowEvent):
    step_name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskCreated(WorkflowEvent):
    step_name: str
    task_id: uuid.UUID
    assignee: str | None = None
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None
    # Not in the upstream dataclass; DESIGN.md admits both on the wire.
    form_schema: dict[str, Any] | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskCompleted(WorkflowEvent):
    step_name: str
    task_id: uuid.UUID
    completed_by: str
    form_data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class HumanTaskReassigned(WorkflowEvent):
    step_name: str
    task_id: uuid.UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    reassigned_by: str | None = None
    reason: str | None = None


EVENT_TYPES: dict[str, type[WorkflowEvent]] = {
    cls.__name__: cls
    for cls in (
        WorkflowStarted,
        WorkflowCompleted,
        WorkflowFailed,
        WorkflowCanceled,
        WorkflowPaused,
        WorkflowResumed,
        StepStarted,
        StepCompleted,
        StepFailed,
        StepSkipped,
        HumanTaskCreated,
        HumanTaskCompleted,
        HumanTaskReassigned,
    )
}

TASK_EVENT_TYPES = frozenset({"HumanTaskCreated", "HumanTaskCompleted", "HumanTaskReassigned"})
STEP_EVENT_TYPES = frozenset({"StepStarted", "StepCompleted", "StepFailed", "StepSkipped"})
TERMINAL_EVENT_TYPES = frozenset({"WorkflowCompleted", "WorkflowFailed", "WorkflowCanceled"})

# Fields the upstream dataclasses do not have but the wire format admits.
_EXTENSION_FIELDS = {"HumanTaskCreated": frozenset({"form_schema", "priority"})}

# Namespace for event ids derived from content when the sender gives none.
_CONTENT_NAMESPACE = uuid.UUID("5b1f9a52-7f0e-4d7e-9a51-3c7d6f0b2e11")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class EventError(ValueError):
    """An event that cannot be accepted; ``errors`` names each field at fault."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """A validated event, with its idempotency key and what the sender added."""

    event: WorkflowEvent
    event_id: uuid.UUID
    event_id_given: bool
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        return type(self.event).__name__

    def payload(self) -> dict[str, Any]:
        """The stored form: the contract fields in wire form plus any extra fields."""
        return {**to_wire(self.event), **self.extra}


def _field_kinds(cls: type[WorkflowEvent]) -> dict[str, tuple[str, bool]]:
    """Map each field to (kind, required) from the dataclass annotations."""
    kinds: dict[str, tuple[str, bool]] = {}
    for f in dataclasses.fields(cls):
        annotation = str(f.type)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if "UUID" in annotation:
            kind = "uuid"
        elif "datetime" in annotation:
            kind = "datetime"
        elif annotation.startswith("dict"):
            kind = "object"
        elif annotation.startswith("float"):
            kind = "number"
        elif annotation.startswith("int"):
            kind = "integer"
        elif annotation == "Any":
            kind = "any"
        else:
            kind = "string"
        kinds[f.name] = (kind, required)
    return kinds


_KINDS = {name: _field_kinds(cls) for name, cls in EVENT_TYPES.items()}
_NULLABLE = {
    name: {f.name for f in dataclasses.fields(cls) if "None" in str(f.type) or f.type == "Any"}
    for name, cls in EVENT_TYPES.items()
}


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 to an aware datetime; a naive one is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 datetime") from None
    else:
        raise ValueError(f"expected an ISO 8601 datetime string, got {_json_type(value)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:59:59-05:00, which is past the last representable instant.
        raise ValueError(f"{value!r} is out of the supported date range") from None


def parse_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a UUID string, got {_json_type(value)}")
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _convert(kind: str, value: Any) -> Any:
    if kind == "uuid":
        return parse_uuid(value)
    if kind == "datetime":
        return parse_datetime(value)
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_json_type(value)}")
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise ValueError(f"expected an object, got {_json_type(value)}")
        _ensure_json(value)
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"expected an integer, got {_json_type(value)}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {_json_type(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("expected a finite number")
        return float(value)
    _ensure_json(value)
    return value


def _ensure_json(value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON-serialisable: {exc}") from None


# Where the projections keep a short text field, its column's max_length: a longer value
# would be refused by PostgreSQL mid-ingest, so it is refused here with a clear message.
_MAX_LENGTH = {
    "workflow_name": 200,
    "workflow_version": 50,
    "user_id": 200,
    "tenant_id": 200,
    "status": 50,
    "final_step": 200,
    "failed_step": 200,
    "error_type": 200,
    "canceled_by": 200,
    "current_step": 200,
    "paused_at_step": 200,
    "resumed_by": 200,
    "resuming_at_step": 200,
    "step_name": 200,
    "step_type": 50,
    "assignee": 200,
    "title": 500,
    "completed_by": 200,
    "from_assignee": 200,
    "to_assignee": 200,
    "reassigned_by": 200,
}
# Integer columns: retry_count is a PositiveIntegerField, priority an IntegerField.
_INT_RANGE = {"retry_count": (0, 2**31 - 1), "priority": (-(2**31), 2**31 - 1)}


def _has_nul(value: Any) -> bool:
    """PostgreSQL text and jsonb cannot hold NUL characters, anywhere in a value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _check_limits(name: str, value: Any) -> None:
    if _has_nul(value):
        raise ValueError("text must not contain NUL (\\u0000)")
    limit = _MAX_LENGTH.get(name)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        raise ValueError(f"too long: {len(value)} characters, at most {limit}")
    bounds = _INT_RANGE.get(name)
    if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"out of range: must be between {bounds[0]} and {bounds[1]}")


# Engines send the same form schema with every task of a step, and checking a schema
# against the meta-schema costs ~10 ms: remember the verdict per canonical schema text.
_SCHEMA_VERDICTS: dict[str, str] = {}
_SCHEMA_CACHE_SIZE = 512


def _schema_problem(schema: dict[str, Any]) -> str:
    """Why ``schema`` is not a valid JSON Schema, or "" when it is."""
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        key = ""
    if key and key in _SCHEMA_VERDICTS:
        return _SCHEMA_VERDICTS[key]
    if plainly_valid(schema):
        problem = ""  # the common keywords only, each of the right type: no need to ask
    else:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
            problem = ""
        except jsonschema.SchemaError as exc:
            problem = exc.message
    if key:
        if len(_SCHEMA_VERDICTS) >= _SCHEMA_CACHE_SIZE:
            _SCHEMA_VERDICTS.clear()
        _SCHEMA_VERDICTS[key] = problem
    return problem


def parse_event(obj: Any) -> ParsedEvent:
    """Validate one wire object and build its typed event; raise EventError if it is bad."""
    if not isinstance(obj, Mapping):
        raise EventError([FieldError("", f"an event must be a JSON object, got {_json_type(obj)}")])
    type_name = obj.get("type")
    if type_name is None:
        raise EventError([FieldError("type", "missing: the event type is required")])
    if not isinstance(type_name, str) or type_name not in EVENT_TYPES:
        known = ", ".join(EVENT_TYPES)
        raise EventError([FieldError("type", f"unknown event type {type_name!r}; one of {known}")])

    errors: list[FieldError] = []
    event_id: uuid.UUID | None = None
    if obj.get("event_id") is not None:
        try:
            event_id = parse_uuid(obj["event_id"])
        except ValueError as exc:
            errors.append(FieldError("event_id", str(exc)))

    kinds = _KINDS[type_name]
    nullable = _NULLABLE[type_name]
    values: dict[str, Any] = {}
    for name, (kind, required) in kinds.items():
        if name not in obj or obj[name] is None:
            if required and (name not in obj or name not in nullable):
                errors.append(FieldError(name, "missing: this field is required"))
            continue
        try:
            values[name] = _convert(kind, obj[name])
            _check_limits(name, values[name])
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))

    if type_name == "HumanTaskCreated" and isinstance(values.get("form_schema"), dict):
        problem = _schema_problem(values["form_schema"])
        if problem:
            errors.append(FieldError("form_schema", f"not a valid JSON Schema: {problem}"))
    if errors:
        raise EventError(errors)

    extra = {k: v for k, v in obj.items() if k not in kinds and k not in ("type", "event_id")}
    warnings: tuple[str, ...] = ()
    if extra:
        try:
            _ensure_json(extra)
        except ValueError as exc:
            raise EventError([FieldError(next(iter(extra)), str(exc))]) from None
        for key, value in extra.items():
            if _has_nul(key) or _has_nul(value):
                raise EventError([FieldError(key, "text must not contain NUL (\\u0000)")])
        warnings = tuple(f"unknown field {k!r} kept but ignored" for k in sorted(extra))

    event = EVENT_TYPES[type_name](**values)
    given = event_id is not None
    if event_id is None:
        event_id = uuid.uuid5(
            _CONTENT_NAMESPACE, content_hash(type_name, {**to_wire(event), **extra})
        )
    return ParsedEvent(
        event=event, event_id=event_id, event_id_given=given, extra=extra, warnings=warnings
    )


def content_hash(type_name: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an event: its type plus all fields, sorted keys."""
    canonical = json.dumps(
        {"type": type_name, **fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _wire_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_wire(event: WorkflowEvent) -> dict[str, Any]:
    """The event as a JSON-ready dict of its fields (without ``type``)."""
    return {f.name: _wire_value(getattr(event, f.name)) for f in dataclasses.fields(event)}


def to_wire_object(event: WorkflowEvent, *, event_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The full wire object, as an engine would send it."""
    obj: dict[str, Any] = {"type": type(event).__name__}
    if event_id is not None:
        obj["event_id"] = str(event_id)
    obj.update({k: v for k, v in to_wire(event).items() if v is not None})
    return obj


def wire_from_dataclass(instance: Any) -> dict[str, Any]:
    """Turn an instance of litestar-workflows' own event dataclasses into a wire object.

    Matched by class name and fields, so the package need not be installed here.
    """
    type_name = type(instance).__name__
    if type_name not in EVENT_TYPES or not dataclasses.is_dataclass(instance):
        raise EventError([FieldError("type", f"{type_name} is not a workflow event dataclass")])
    obj: dict[str, Any] = {"type": type_name}
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if isinstance(value, datetime | uuid.UUID):
            value = _wire_value(value)
        obj[f.name] = value
    return obj


def from_dataclass(instance: Any) -> ParsedEvent:
    """Parse an instance of litestar-workflows' own event dataclasses."""
    return parse_event(wire_from_dataclass(instance))


# Order of events that share a timestamp: causes before effects, so the fold of a set
# of events does not depend on which arrived first.
TYPE_RANK = {
    "WorkflowStarted": 0,
    "WorkflowResumed": 1,
    "StepStarted": 2,
    "HumanTaskCreated": 3,
    "HumanTaskReassigned": 4,
    "HumanTaskCompleted": 5,
    "StepSkipped": 6,
    "StepFailed": 6,
    "StepCompleted": 6,
    "WorkflowPaused": 7,
    "WorkflowFailed": 8,
    "WorkflowCanceled": 8,
    "WorkflowCompleted": 8,
}


def fold_order(event: Any) -> tuple[datetime, int, str]:
    """The order of the fold, for anything with ``timestamp``, ``type`` and ``event_id``:
    time, then causes before effects, then the event id (never arrival, which differs
    between deliveries of the same events)."""
    return (event.timestamp, TYPE_RANK[event.type], str(event.event_id))
