"""Faults and churn, item 1, short: a few hundred connect/disconnect cycles across two
uvicorn servers on the Redis layer (our own redis-server), and one storm of sockets dropped
at once without a closing handshake. Every server's Redis connections stay within the
pool's bound, its tasks, fds and connections come back to baseline when idle, a broadcast
still reaches both servers, and they stop without cancelling stuck tasks.
bench/faults/churn.py is the full size (10,000 cycles, storms of 1,000)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.support import faults

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")

BOUND = 20  # the pool's bound per server, well under the storm's size
IDLE = 2  # seconds before an idle connection closes


def test_churn_and_a_storm_stay_bounded_and_come_back(tmp_path: Path) -> None:
    with faults.site(tmp_path, users=300, connections=BOUND, idle_seconds=IDLE) as s:

        async def scenario() -> None:
            assert await faults.hear_broadcast(s) == 10
            base = await faults.wait_idle(s, IDLE + 2)
            failed = await faults.churn(s, 300, concurrency=30)
            assert failed == 0
            storm = await faults.storm(s, 300)
            assert all(p["sockets"] == 150 for p in storm["open"])
            assert max(storm["peak_redis"]) <= BOUND
            assert max(storm["open_redis"]) <= BOUND
            idle = await faults.wait_idle(s, IDLE + 3)
            for before, after in zip(base, idle, strict=True):
                assert after["sockets"] == 0
                assert after["layer_receives"] == 0
                assert after["cancelling"] == 0
                assert after["receive_buffers"] == 0
                assert after["tasks"] <= before["tasks"] + 2, (before, after)
                assert after["fds"] <= before["fds"] + 3, (before, after)
                assert after["redis_in_use"] + after["redis_idle"] <= 3
            assert max(s.redis_connections()) <= 3
            assert await faults.hear_broadcast(s) == 10

        asyncio.run(asyncio.wait_for(scenario(), 240))
        said = s.stop_servers()
        assert not any("Cancel" in out for out in said), said
