from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def api_token(db) -> str:
    from workflows.models import IngestToken

    _, raw = IngestToken.issue("test-engine")
    return raw


@pytest.fixture
def api_client(api_token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")
