"""``jsonvalues.surely_storable``, ingest's fast check, never passes what the walk
(``jsonvalues.problem``) would refuse: whatever it lets through is storable."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows import jsonvalues

text = st.text() | st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\\u0000", "ok"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
keys = text | st.integers() | st.booleans() | st.none() | st.floats()
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children)
        | st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=30,
)


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"a": [value]} if levels % 2 else [value]
    return value


@given(values)
def test_what_the_fast_check_passes_the_walk_passes(value: Any) -> None:
    if jsonvalues.surely_storable(value):
        assert jsonvalues.problem(value) is None


@pytest.mark.parametrize(
    "value",
    [
        {"a": math.nan},
        {"a": [1, math.inf]},
        {"a": "x\x00y"},
        {"a\x00": 1},
        {"a": "\ud800"},
        {"\udfff": 1},
        {1: "int key"},
        {"a": (1, 2)},
        {"a": object()},
        nested(70),
    ],
    ids=[
        "nan",
        "infinity",
        "nul-in-text",
        "nul-in-key",
        "surrogate-in-text",
        "surrogate-in-key",
        "int-key",
        "tuple",
        "object",
        "70-levels",
    ],
)
def test_the_fast_check_sends_each_kind_of_bad_value_to_the_walk(value: Any) -> None:
    assert not jsonvalues.surely_storable(value)
    assert jsonvalues.problem(value) is not None


def test_ordinary_events_pass_the_fast_check() -> None:
    event = {
        "type": "HumanTaskCreated",
        "instance_id": "1c6f3f0e-6e1e-4a4e-9d0e-0f8e8f1f2a3b",
        "title": "Approve — 420 €",
        "form_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        "context": {"amount": 420.5, "lines": [1, 2, 3], "note": None},
    }
    assert jsonvalues.surely_storable(event)
    # A literal backslash-u-0000 in text is fine: the walk says so after the fast check.
    assert not jsonvalues.surely_storable({"a": "\\u0000"})
    assert jsonvalues.problem({"a": "\\u0000"}) is None
