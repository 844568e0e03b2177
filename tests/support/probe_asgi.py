"""The project's ASGI app with a probe for the fault tests and bench/faults (never in
production): ``GET /__probe__`` answers, from inside the server process, its asyncio tasks
(all, and the channel layer's receives), the live sockets open, its channel-layer pools'
Redis connections (in use, idle), its open file descriptors, its RSS and its Python
objects; ``?trim=1`` measures after a garbage collection and glibc's ``malloc_trim``,
``?types=1`` adds the most common object types."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
from typing import Any

from channels.layers import get_channel_layer

from config.asgi import application as project
from live.metrics import WEBSOCKETS_OPEN


def probe(trim: bool = False, types: bool = False) -> dict[str, Any]:
    """``trim``: first collect garbage and give the C heap's free pages back (glibc
    ``malloc_trim``), so RSS shows what is live rather than what the allocator keeps."""
    if trim:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    tasks = asyncio.all_tasks()
    receives = [t for t in tasks if "ChannelLayer.receive" in _name(t)]
    layer: Any = get_channel_layer()
    in_use = idle = 0
    for loop_layer in getattr(layer, "_layers", {}).values():
        for client in loop_layer._connections.values():
            pool = client.connection_pool
            in_use += len(pool._in_use_connections)
            idle += len(pool._available_connections)
    with open("/proc/self/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "pid": os.getpid(),
        "tasks": len(tasks),
        "layer_receives": len(receives),
        "cancelling": sum(1 for t in tasks if t.cancelling()),
        "sockets": WEBSOCKETS_OPEN._value.get(),
        "redis_in_use": in_use,
        "redis_idle": idle,
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_kib": rss_kib,
        "objects": len(gc.get_objects()),
        "receive_buffers": len(getattr(layer, "receive_buffer", {})),
        **({"types": _types()} if types else {}),
    }


def _types() -> dict[str, int]:
    """The 30 most common object types, for finding what a churn leaves behind."""
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:30])


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/__probe__":
        query = scope["query_string"].decode()
        body = json.dumps(probe(trim="trim=1" in query, types="types=1" in query)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    await project(scope, receive, send)


def _name(task: asyncio.Task[Any]) -> str:
    return str(getattr(task.get_coro(), "__qualname__", ""))
