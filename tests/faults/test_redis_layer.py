"""live.redis_layer on a redis-server of its own: a consumer's channel-layer receive ends
when cancelled (the cancellation asyncio.wait_for loses before Python 3.12 is kept), and the
pool stays within its bound, hands a free connection on past cancelled waiters, and closes
idle connections."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer as PlainLayer
from django.test import Client

from live.redis_layer import BoundedPool, CancellableConnection, RedisChannelLayer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def layer(
    redis: RedisServer, cls: type[PlainLayer] = RedisChannelLayer, **host: object
) -> PlainLayer:
    return cls(hosts=[{"address": redis.url, "socket_timeout": 15, **host}], prefix="t")


async def cancel_receivers(layer: PlainLayer, rounds: int, receivers: int) -> int:
    """Sockets closing together: their receives (one holding the receive lock, in BZPOPMIN)
    cancelled in one go, sometimes just after a message. How many did not end."""
    stuck = 0
    rng = random.Random(13)
    for _ in range(rounds):
        channels = [await layer.new_channel() for _ in range(receivers)]
        tasks = [asyncio.ensure_future(layer.receive(c)) for c in channels]
        await asyncio.sleep(rng.random() * 0.05)
        if rng.random() < 0.5:
            await layer.send(rng.choice(channels), {"type": "x"})
            await asyncio.sleep(rng.random() * 0.01)
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=3)
        stuck += len(pending)
        if pending:
            break  # a stuck receive holds the lock: later rounds would only wait on it
    return stuck


def test_a_cancelled_receive_ends(redis: RedisServer) -> None:
    """With channels-redis' own layer (PlainLayer) this strands a receive within a few dozen
    rounds on Python 3.11 (bench/README.md, "Faults and churn")."""
    the_layer = layer(redis)
    assert asyncio.run(cancel_receivers(the_layer, rounds=150, receivers=10)) == 0
    # And leave nothing behind: channels-redis kept the buffer of a receive cancelled while
    # holding the receive lock (one per closed socket, for good).
    assert not the_layer.receive_buffer


def test_the_pool_waits_within_its_bound_and_closes_idle_connections(redis: RedisServer) -> None:
    async def scenario() -> None:
        the_layer = layer(redis, max_connections=5, idle_timeout=1, min_idle=1)
        client = the_layer.connection(0)
        pool = client.connection_pool
        assert isinstance(pool, BoundedPool)
        peak = 0

        async def command(i: int) -> None:
            nonlocal peak
            await client.set(f"k{i}", i)
            peak = max(peak, pool.in_use_count() + pool.idle_count())

        await asyncio.gather(*(command(i) for i in range(300)))
        assert peak <= 5
        assert pool.idle_count() <= 5
        # Waiters cancelled while others wait (sockets closing mid-storm) strand nobody.
        blockers = [asyncio.ensure_future(client.blpop([f"q{i}"], timeout=1)) for i in range(5)]
        await asyncio.sleep(0.1)
        waiters = [asyncio.ensure_future(client.get("k1")) for _ in range(20)]
        await asyncio.sleep(0.05)
        for w in waiters[:10]:
            w.cancel()
        results = await asyncio.wait_for(asyncio.gather(*waiters[10:]), 10)
        assert results == [b"1"] * 10
        await asyncio.gather(*blockers)
        # Idle: back to min_idle (Redis's side agrees).
        await asyncio.sleep(2.5)
        assert pool.idle_count() == 1
        assert pool.in_use_count() == 0
        assert sum(1 for c in redis.clients() if c.get("cmd") != "client|list") == 1
        await the_layer.close_pools()

    asyncio.run(scenario())


def test_connections_are_cancellable_and_hosts_are_checked(redis: RedisServer) -> None:
    the_layer = layer(redis)
    pool = the_layer.create_pool(0)
    assert pool.connection_class is CancellableConnection
    assert pool.max_connections == 50
    with pytest.raises(ValueError, match="max_connections"):
        layer(redis, max_connections=1).create_pool(0)
    with pytest.raises(ValueError, match="idle_timeout"):
        layer(redis, idle_timeout=0).create_pool(0)
    with pytest.raises(ValueError, match="address"):
        RedisChannelLayer(hosts=[("127.0.0.1", redis.port)]).create_pool(0)


@pytest.mark.django_db
def test_readyz_pings_redis_through_this_layer(
    redis: RedisServer, client: Client, settings: Any
) -> None:
    """/readyz knows this backend and leaves its pool options out of its own ping."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "live.redis_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": redis.url,
                        "max_connections": 5,
                        "timeout": 20,
                        "idle_timeout": 30,
                        "min_idle": 2,
                        "client_name": "taskinbox-readyz",
                    }
                ]
            },
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == {"ok": True, "backend": "redis"}
    redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"]["reason"].startswith("redis ping failed")
