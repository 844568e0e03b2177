"""A fake dashboard for the engine-side adapter's tests (no Django, no database)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

TOKEN = "test-ingest-token"


class FakeDashboard:
    """``POST /api/events`` as the dashboard answers it: all or nothing, deduped by event_id,
    and a reused event_id with different content is refused (422), as the real one does."""

    def __init__(self) -> None:
        self.mode = "up"  # "up", "down" (connection refused), "503", "422"
        self.refuse_index: int | None = None
        self.events: dict[str, dict[str, Any]] = {}
        self.order: list[dict[str, Any]] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.duplicates = 0
        self.attempts = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.mode == "503":
            return httpx.Response(503, text="maintenance")
        assert request.url.path == "/api/events"
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            unauthorized = {"index": None, "field": "Authorization", "message": "bad token"}
            return httpx.Response(401, json={"errors": [unauthorized]})
        batch = json.loads(request.content)["events"]
        if self.mode == "422" or self.refuse_index is not None:
            index = self.refuse_index
            self.refuse_index = None
            problem: dict[str, Any] = {"index": index, "field": "title", "message": "refused"}
            return httpx.Response(422, json={"errors": [problem]})
        problems = []
        for i, event in enumerate(batch):
            known = self.events.get(event["event_id"])
            if known is not None and known != event:
                problems.append({"index": i, "field": "event_id", "message": "reused"})
        if problems:
            return httpx.Response(422, json={"errors": problems})
        self.batches.append(batch)
        for event in batch:
            if event["event_id"] in self.events:
                self.duplicates += 1
            else:
                self.events[event["event_id"]] = event
                self.order.append(event)
        return httpx.Response(200, json={"accepted": len(batch), "duplicates": 0, "results": []})

    def types(self) -> list[str]:
        return [e["type"] for e in self.order]

    def of_type(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.order if e["type"] == name]


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
