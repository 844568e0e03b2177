"""Fixtures shared by every test package: API tokens, the one Chromium and the one real
ASGI server; and the Hypothesis profiles.

Browser tests are marked ``@pytest.mark.browser`` (``make test-fast`` leaves them out).
Hypothesis runs the ``dev`` profile (few examples) unless ``HYPOTHESIS_PROFILE`` names
another or ``CI`` is set (then ``ci``, the full runs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import settings

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.server import Servers

settings.register_profile("dev", max_examples=20, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture
def api_token(db) -> str:
    from workflows.models import IngestToken

    _, raw = IngestToken.issue("test-engine", scopes=["events:write", "read"])
    return raw


@pytest.fixture
def api_client(api_token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one per test module.

    Not session-wide: Playwright's sync API keeps an event loop running in this thread
    while it is open, which the async tests (pytest-asyncio) and Django's async-safety
    check must not see. For the same reason the ORM set-up in browser tests (plain
    synchronous code, not running inside that loop) is allowed while it is open.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def uvicorn_servers(tmp_path: Path) -> Iterator[Servers]:
    """Real uvicorn processes (websockets need ASGI; ``live_server`` is WSGI only) on a
    fresh migrated database of their own: ``setup(code)`` seeds it through ``manage.py
    shell``, ``start(token)`` adds a server; all stop and the database goes at the end."""
    servers = Servers(tmp_path)
    try:
        yield servers
    finally:
        servers.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A real-browser test runs once more if it fails (pytest-rerunfailures): Chromium, a
    server and a socket on a busy machine (the suite runs on every core) have timing a
    test cannot own. A test that fails twice fails; the rerun is reported."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))
