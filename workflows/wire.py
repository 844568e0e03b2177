"""The wire format of an event, and its parser.

On the wire an event is one JSON object: ``type`` (the class name), an optional
``event_id`` (UUID) and the fields by name. ``parse_event`` turns such an object into a
typed event (``workflows.events``), or raises ``EventError`` naming every problem.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from workflows import jsonvalues
from workflows.events import EVENT_TYPES, WorkflowEvent
from workflows.schemas import schema_problem

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
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("out of range: too large for a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    _ensure_json(value)
    return value


def _ensure_json(value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not JSON-serialisable: {exc}") from None


# Where the projections keep a field of an event, the columns that hold it. A value longer
# than a column's max_length (or outside an integer column's range) would be refused by
# PostgreSQL mid-ingest and truncated silently by SQLite, so it is refused here, clearly.
_COLUMNS = {
    "workflow_name": [("WorkflowInstance", "workflow_name")],
    "workflow_version": [("WorkflowInstance", "workflow_version")],
    "user_id": [("WorkflowInstance", "initiator")],
    "tenant_id": [("WorkflowInstance", "tenant_id")],
    "status": [("WorkflowInstance", "engine_status"), ("StepRun", "engine_status")],
    "final_step": [("WorkflowInstance", "final_step")],
    "failed_step": [("WorkflowInstance", "failed_step")],
    "error_type": [("WorkflowInstance", "error_type"), ("StepRun", "error_type")],
    "canceled_by": [("WorkflowInstance", "canceled_by")],
    "current_step": [("WorkflowInstance", "current_step")],
    "paused_at_step": [("WorkflowInstance", "current_step")],
    "resumed_by": [("WorkflowInstance", "resumed_by")],
    "resuming_at_step": [("WorkflowInstance", "current_step")],
    "step_name": [("StepRun", "step_name"), ("HumanTask", "step_name")],
    "step_type": [("StepRun", "step_type")],
    "assignee": [("HumanTask", "assignee")],
    "title": [("HumanTask", "title")],
    "completed_by": [("HumanTask", "completed_by")],
    "from_assignee": [("HumanTask", "previous_assignee")],
    "to_assignee": [("HumanTask", "assignee")],
    "reassigned_by": [("HumanTask", "last_reassigned_by")],
    "retry_count": [("StepRun", "retry_count")],
    "priority": [("HumanTask", "priority")],
}


@functools.cache
def column_limits() -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Each field's max length and integer range, read from the models' ``_meta``."""
    from django.apps import apps
    from django.db.backends.base.operations import BaseDatabaseOperations

    # The portable ranges (PostgreSQL's), not this connection's: SQLite would take more.
    integer_ranges = BaseDatabaseOperations.integer_field_ranges

    lengths: dict[str, int] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for name, columns in _COLUMNS.items():
        for model_name, column in columns:
            model_field = apps.get_model("workflows", model_name)._meta.get_field(column)
            if model_field.max_length is not None:
                limit = model_field.max_length
                lengths[name] = min(lengths.get(name, limit), limit)
            internal = model_field.get_internal_type()
            if internal in integer_ranges:
                ranges[name] = integer_ranges[internal]
    return lengths, ranges


def _check_limits(name: str, value: Any) -> None:
    lengths, ranges = column_limits()
    limit = lengths.get(name)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        raise ValueError(f"too long: {len(value)} characters, at most {limit}")
    bounds = ranges.get(name)
    if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"out of range: must be between {bounds[0]} and {bounds[1]}")


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
    # Text and numbers the database cannot hold or a page cannot show, and deep nesting,
    # anywhere in the event (keys too): refused here, named by their path, before any
    # recursive reader (json.dumps, jsonschema) sees them.
    unstorable: set[str] = set()
    if not jsonvalues.surely_storable(obj):  # the walk only for what may be bad
        for key, value in obj.items():
            found = jsonvalues.problem({key: value})
            if found is not None:
                errors.append(FieldError(*found))
                unstorable.add(key)
    event_id: uuid.UUID | None = None
    if obj.get("event_id") is not None and "event_id" not in unstorable:
        try:
            event_id = parse_uuid(obj["event_id"])
        except ValueError as exc:
            errors.append(FieldError("event_id", str(exc)))

    kinds = _KINDS[type_name]
    nullable = _NULLABLE[type_name]
    values: dict[str, Any] = {}
    for name, (kind, required) in kinds.items():
        if name in unstorable:
            continue
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
        problem = schema_problem(values["form_schema"])
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
