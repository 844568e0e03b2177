"""A workflow's business key: the reference people know it by ("EXP-2026-4916").

The event contract has no business-key field (``WorkflowStarted`` carries ``initial_data``
only), so it is read from the instance's initial data by one fixed rule:

1. the value of the first of ``KEY_FIELDS`` present at the top level (an engine that
   wants to name its key sends it under one of these names);
2. else, of the top-level values that look like a reference (``REFERENCE``: a letter
   prefix, then dash-separated parts holding a digit: ``EXP-2026-4916``, ``DOC-4821``),
   the one whose key sorts first (key order is not kept by every database, so not "first").

A value counts only as text or a whole number (not a boolean), at most ``MAX_LENGTH``
characters once trimmed; no match is ``""``. Nothing here queries the database.
"""

from __future__ import annotations

import re
from typing import Any

KEY_FIELDS = (
    "business_key",
    "businessKey",
    "reference",
    "correlation_id",
    "correlationId",
    "request_id",
    "requestId",
)
REFERENCE = re.compile(r"[A-Za-z]{2,10}(?:-[A-Za-z0-9]*\d[A-Za-z0-9]*)+")
MAX_LENGTH = 100


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = str(value).strip()
    return text if len(text) <= MAX_LENGTH else ""


def business_key(initial_data: Any) -> str:
    """The business key in a workflow's initial data, or ``""`` (rule in the module doc)."""
    if not isinstance(initial_data, dict):
        return ""
    for name in KEY_FIELDS:
        if text := _text(initial_data.get(name)):
            return text
    for name in sorted(k for k in initial_data if isinstance(k, str)):
        value = initial_data[name]
        text = value.strip() if isinstance(value, str) else ""
        if len(text) <= MAX_LENGTH and REFERENCE.fullmatch(text):
            return text
    return ""
