"""Validation of submitted form data against a task's JSON Schema (the jsonschema package)."""

from __future__ import annotations

from typing import Any

import jsonschema


def validation_errors(schema: dict[str, Any], data: Any) -> list[tuple[str | None, str]]:
    """Every way ``data`` breaks ``schema``, as (top-level property or None, message)."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [(_error_field(e), e.message) for e in validator.iter_errors(data)]


def _error_field(error: jsonschema.ValidationError) -> str | None:
    if error.path:
        return str(error.path[0])
    if error.validator == "required":
        # "'amount' is a required property": the property is the quoted name.
        missing = [p for p in error.validator_value if repr(p) in error.message]
        return missing[0] if missing else None
    return None
