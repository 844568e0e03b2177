"""The Redis channel layer as we run it: channels-redis' ``RedisChannelLayer`` with a bounded
connection pool that gives idle connections back, on connections that do not lose a
cancellation (bench/README.md, "Faults and churn").

**The pool.** channels-redis makes one redis-py ``ConnectionPool`` per event loop, and that
pool only grows: a storm of 1,000 sockets closing at once runs their ``group_discard``s
together, one connection each, and the 1,000 connections stay open for good (N processes:
N x 1,000 against Redis's 10,000 clients); past ``max_connections`` it raises "Too many
connections". ``BoundedPool`` is redis-py's ``BlockingConnectionPool``: a command that finds
every connection busy waits for one (up to ``timeout`` seconds), and connections idle longer
than ``idle_timeout`` are closed, down to ``min_idle``.

**The lost cancellation.** With ``socket_timeout`` set (redis-py 8 sets 5 s by default),
redis-py writes each command inside ``asyncio.wait_for``. Before Python 3.12, ``wait_for``
returns the inner result when the cancellation arrives in the step between the write
finishing and the caller waking up, and the ``CancelledError`` is lost (CPython gh-86296,
fixed in 3.12 where ``wait_for`` is built on ``asyncio.timeout``; redis-py#2028). A consumer
closed in that step keeps its channel-layer receive running: channels-redis loops
``BZPOPMIN`` on the process channel for ever, the consumer never ends, and uvicorn cancels it
on shutdown ("Cancel 1 running task(s), timeout graceful shutdown exceeded").
``CancellableConnection`` re-raises the cancellation ``wait_for`` swallowed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis.asyncio import BlockingConnectionPool, Connection

logger = logging.getLogger(__name__)

# Our keys in a host's config (CHANNEL_LAYERS); the rest go to redis-py.
POOL_OPTIONS = {"max_connections": 50, "timeout": 20.0, "idle_timeout": 30.0, "min_idle": 2}


class CancellableConnection(Connection):
    """A redis-py connection whose command writes never swallow a cancellation."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        task = asyncio.current_task()
        asked = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)
        if task is not None and task.cancelling() > asked and sys.version_info < (3, 12):
            # Cancelled while writing and not told (asyncio.wait_for, gh-86296): the command
            # went out and its reply will not be read, so the connection is spent.
            await self.disconnect(nowait=True)
            raise asyncio.CancelledError


class BoundedPool(BlockingConnectionPool):
    """At most ``max_connections`` connections; a command waits for a free one (up to
    ``timeout`` s, then redis ``ConnectionError``); idle ones beyond ``min_idle`` close after
    ``idle_timeout`` s. One pool per event loop (channels-redis' ``RedisLoopLayer``)."""

    def __init__(
        self,
        *,
        idle_timeout: float = POOL_OPTIONS["idle_timeout"],
        min_idle: int = int(POOL_OPTIONS["min_idle"]),
        connection_class: type[Connection] = CancellableConnection,
        **kwargs: Any,
    ):
        if idle_timeout <= 0 or min_idle < 0:
            raise ValueError("idle_timeout must be > 0 and min_idle >= 0")
        super().__init__(connection_class=connection_class, **kwargs)
        self.idle_timeout = idle_timeout
        self.min_idle = min_idle
        self._idle_since: dict[int, float] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            connection = await super().get_connection(*args, **kwargs)
        except asyncio.CancelledError:
            # Before Python 3.13 a waiter notified and then cancelled takes the notification
            # with it, and a free connection waits for the next release: pass it on.
            async with self._condition:
                self._condition.notify()
            raise
        self._idle_since.pop(id(connection), None)
        return connection

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        self._idle_since[id(connection)] = asyncio.get_running_loop().time()
        if len(self._available_connections) > self.min_idle and (
            self._reaper is None or self._reaper.done()
        ):
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        """Close connections idle for ``idle_timeout``, oldest first, down to ``min_idle``;
        run while there are more idle connections than that."""
        loop = asyncio.get_running_loop()
        while len(self._available_connections) > self.min_idle:
            await asyncio.sleep(self.idle_timeout / 4)
            now = loop.time()
            spare = len(self._available_connections) - self.min_idle
            # Available connections are taken from the end (LIFO): the front is the oldest.
            stale = [
                c
                for c in self._available_connections[:spare]
                if now - self._idle_since.get(id(c), now) >= self.idle_timeout
            ]
            for connection in stale:
                self._available_connections.remove(connection)
                self._idle_since.pop(id(connection), None)
                await connection.disconnect(nowait=True)

    def idle_count(self) -> int:
        return len(self._available_connections)

    def in_use_count(self) -> int:
        return len(self._in_use_connections)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        if self._reaper is not None and self._reaper is not asyncio.current_task():
            self._reaper.cancel()
        self._idle_since.clear()
        await super().disconnect(inuse_connections)


class RedisChannelLayer(BaseRedisChannelLayer):
    """channels-redis' layer on ``BoundedPool``s. Each host may set ``max_connections``
    (default 50), ``timeout`` (seconds a command waits for a connection, default 20),
    ``idle_timeout`` (default 30) and ``min_idle`` (default 2) besides redis-py's options."""

    async def receive(self, channel: str) -> Any:
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            # channels-redis drops a channel's buffer when its receive is cancelled while
            # waiting, not when it is cancelled holding the receive lock (in BZPOPMIN): one
            # buffer (a queue and its deques) was left per such socket, for good.
            self.receive_buffer.pop(channel, None)
            raise

    def create_pool(self, index: int) -> BoundedPool:
        host = dict(self.hosts[index])
        address = host.pop("address", None)
        if address is None:
            raise ValueError("live.redis_layer needs each host as {'address': 'redis://...'}")
        options = {key: host.pop(key, default) for key, default in POOL_OPTIONS.items()}
        if int(options["max_connections"]) < 2:
            raise ValueError("max_connections must be at least 2 (one is the receive's)")
        return BoundedPool.from_url(address, **options, **host)
