"""workflows.schemas.plainly_valid never lets through what jsonschema refuses."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demo import simulation
from workflows.schemas import _RULES, _SIMPLE_TYPES, plainly_valid, schema_problem

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-2, 2, allow_nan=False)
    | st.text(max_size=3)
    | st.sampled_from(sorted(_SIMPLE_TYPES)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=6,
)
keywords = st.sampled_from([*_RULES, "pattern", "$ref", "x-custom", "$defs"])


def schemas() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.booleans() | st.dictionaries(keywords, json_values, max_size=4),
        lambda inner: st.dictionaries(
            keywords,
            json_values | inner | st.dictionaries(st.text(max_size=2), inner, max_size=3),
            max_size=5,
        ),
        max_leaves=8,
    )


# Cheap (no database): three times the profile's examples (600 in the ci profile).
@settings(max_examples=3 * settings().max_examples)
@given(schema=schemas())
def test_plainly_valid_implies_valid(schema: Any) -> None:
    if plainly_valid(schema):
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "strin"},
        {"type": []},
        {"type": ["string", "string"]},
        {"required": "name"},
        {"required": ["a", "a"]},
        {"minimum": "1"},
        {"minimum": True},
        {"maxLength": -1},
        {"multipleOf": 0},
        {"title": 3},
        {"enum": "a"},
        {"properties": {"a": {"type": 1}}},
        {"properties": []},
        {"items": 3},
    ],
)
def test_invalid_schemas_are_not_plainly_valid(schema: dict[str, Any]) -> None:
    assert not plainly_valid(schema)
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema(schema)
    assert schema_problem(schema)  # and ingest names the problem


def test_the_simulated_form_schemas_take_the_quick_path() -> None:
    events = simulation.generate(workflows=60, seed=7).events
    schemas = [e["form_schema"] for e in events if e.get("form_schema")]
    assert schemas
    assert all(plainly_valid(s) for s in schemas)
