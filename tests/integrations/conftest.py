"""Fixtures for the engine-side adapter's tests (no Django, no database)."""

from __future__ import annotations

import httpx
import pytest

from tests.integrations.fakes import FakeDashboard


@pytest.fixture
def dashboard() -> FakeDashboard:
    return FakeDashboard()


@pytest.fixture
def transport(dashboard: FakeDashboard) -> httpx.MockTransport:
    return httpx.MockTransport(dashboard.handler)
