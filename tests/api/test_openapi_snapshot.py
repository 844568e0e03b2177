"""The OpenAPI document is a contract: engines generate clients from it. It is the one
recorded in ``openapi-1.0.json`` (written before the code moved into the core app); a
change to the API must change that file on purpose, in the same commit."""

from __future__ import annotations

import json
from pathlib import Path

from django.test import Client

RECORDED = Path(__file__).with_name("openapi-1.0.json")


def test_the_openapi_document_is_the_recorded_one() -> None:
    served = Client().get("/api/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(RECORDED.read_text())
