"""The sends after ingest: one thread hop per batch, and they work from any thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from live import broadcast


class RecordingLayer:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.fail = fail or set()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if group in self.fail:
            raise RuntimeError(f"{group} is down")
        self.sent.append((group, message, threading.current_thread().name))


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> RecordingLayer:
    recording = RecordingLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: recording)
    return recording


def messages(n: int) -> list[tuple[str, broadcast.Payload]]:
    return [
        (
            broadcast.user_group(i),
            broadcast.InstancesChanged(
                type="live.instances", id=broadcast.broadcast_id(), instance_ids=[]
            ),
        )
        for i in range(n)
    ]


def test_a_batch_is_sent_from_one_async_to_sync_call(
    layer: RecordingLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = broadcast.async_to_sync

    def counting(fn: Any) -> Any:
        calls.append(fn)
        return real(fn)

    monkeypatch.setattr(broadcast, "async_to_sync", counting)
    batch = messages(55)
    broadcast.send_many(batch)
    assert len(calls) == 1
    assert [g for g, _, _ in layer.sent] == [g for g, _ in batch]  # all of them, in order


def test_one_failing_group_does_not_stop_the_others(
    layer: RecordingLayer, caplog: pytest.LogCaptureFixture
) -> None:
    layer.fail = {broadcast.user_group(1)}
    with caplog.at_level(logging.ERROR, logger="live.broadcast"):
        broadcast.send_many(messages(3))
    assert [g for g, _, _ in layer.sent] == [broadcast.user_group(0), broadcast.user_group(2)]
    assert "live broadcast to user.1 failed" in caplog.text


async def test_sync_code_on_a_thread_with_a_running_loop_still_sends(
    layer: RecordingLayer, caplog: pytest.LogCaptureFixture
) -> None:
    # What Playwright's sync API does: test code runs on a thread whose loop is running.
    # async_to_sync refuses to run there; the sends go to a worker thread instead.
    asyncio.get_running_loop()
    with caplog.at_level(logging.ERROR, logger="live.broadcast"):
        broadcast.send_many(messages(5))  # a plain sync call, not awaited
    assert "failed" not in caplog.text
    assert len(layer.sent) == 5
    assert {thread for _, _, thread in layer.sent} != {threading.current_thread().name}


def test_no_layer_no_messages_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: None)
    broadcast.send_many(messages(2))
