"""live.consumers._shared: one rendering per broadcast in a process, shared by every socket;
a socket that closes while it runs must not leave the others waiting."""

from __future__ import annotations

import asyncio
import threading

import pytest

from live import consumers

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_cancelled_first_caller_does_not_strand_the_others() -> None:
    started, release = threading.Event(), threading.Event()
    calls = []

    def render() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "<p>fragment</p>"

    key = ("test-broadcast", "cancelled-first")
    first = asyncio.ensure_future(consumers._shared(key, render))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    second = asyncio.ensure_future(consumers._shared(key, render))
    first.cancel()  # the first socket closes mid-render
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.wait_for(second, 5) == "<p>fragment</p>"
    assert len(calls) == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_rendering_is_tried_again() -> None:
    attempts = []

    def render() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")
        return "ok"

    key = ("test-broadcast", "failed-first")
    with pytest.raises(RuntimeError):
        await consumers._shared(key, render)
    assert await consumers._shared(key, render) == "ok"
