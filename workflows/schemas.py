"""Form schemas: is a task's JSON Schema valid (``schema_problem``, cached), and does
submitted data satisfy it (``validation_errors``), both with the jsonschema package.

A quick proof that a form schema is a valid JSON Schema, for the common plain cases:

``jsonschema.Draft202012Validator.check_schema`` walks the 2020-12 meta-schema (seven
vocabularies joined by ``allOf`` and ``$dynamicRef``) and takes about 6 ms for a typical
completion form; engines often send a different schema per task (an amount as the
maximum), so a cache of whole schemas does not help. Almost every form schema uses a
handful of keywords whose meta-schema rules are simple type rules, checked here directly.

``plainly_valid`` answers True only when the 2020-12 meta-schema certainly accepts the
schema; anything else (an unknown keyword, an odd value, ``$ref``, ``pattern``...) gives
False and the caller asks jsonschema, which also writes the error message. So this can
make a valid schema cheaper, never make an invalid one pass.

The rules, from https://json-schema.org/draft/2020-12 (meta/core, applicator, validation,
meta-data, format-annotation): a schema is an object or a boolean; unknown keywords are
allowed by the meta-schema but sent to jsonschema here.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

_SIMPLE_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    """``nonNegativeInteger`` (ints only here; 2.0 is left to jsonschema)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_type(value: Any) -> bool:
    if isinstance(value, str):
        return value in _SIMPLE_TYPES
    if isinstance(value, list):
        return (
            bool(value)
            and all(isinstance(v, str) and v in _SIMPLE_TYPES for v in value)
            and len(set(value)) == len(value)
        )
    return False


def _is_string_array(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value)
    )


def _is_schema_map(value: Any) -> bool:
    return isinstance(value, dict) and all(plainly_valid(v) for v in value.values())


# keyword -> the meta-schema's rule for its value
_RULES = {
    # meta-data
    "title": lambda v: isinstance(v, str),
    "description": lambda v: isinstance(v, str),
    "default": lambda v: True,
    "deprecated": lambda v: isinstance(v, bool),
    "readOnly": lambda v: isinstance(v, bool),
    "writeOnly": lambda v: isinstance(v, bool),
    "examples": lambda v: isinstance(v, list),
    # format-annotation
    "format": lambda v: isinstance(v, str),
    # validation
    "type": _is_type,
    "enum": lambda v: isinstance(v, list),
    "const": lambda v: True,
    "multipleOf": lambda v: _is_number(v) and v > 0,
    "maximum": _is_number,
    "exclusiveMaximum": _is_number,
    "minimum": _is_number,
    "exclusiveMinimum": _is_number,
    "maxLength": _is_count,
    "minLength": _is_count,
    "maxItems": _is_count,
    "minItems": _is_count,
    "uniqueItems": lambda v: isinstance(v, bool),
    "maxProperties": _is_count,
    "minProperties": _is_count,
    "required": _is_string_array,
    # applicator
    "properties": _is_schema_map,
    "additionalProperties": lambda v: plainly_valid(v),
    "items": lambda v: plainly_valid(v),
}


def plainly_valid(schema: Any) -> bool:
    """True if ``schema`` is certainly valid under the 2020-12 meta-schema; False: unsure."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for key, value in schema.items():
        rule = _RULES.get(key)
        if rule is None or not rule(value):
            return False
    return True


# Engines send the same form schema with every task of a step, and checking a schema
# against the meta-schema costs ~10 ms: remember the verdict per canonical schema text.
_SCHEMA_VERDICTS: dict[str, str] = {}
_SCHEMA_CACHE_SIZE = 512


def schema_problem(schema: dict[str, Any]) -> str:
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
