"""config.asgi (``make serve``): HTTP runs through Django's synchronous WSGI handler in a
thread of a2wsgi's pool, websockets through Channels, and a broadcast made in a request's
thread reaches the sockets on the server's event loop with the in-memory channel layer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import websockets
from django.core.signals import request_started

from live import broadcast
from tests.support import events as f
from tests.support.asgi import chunked_post
from tests.support.server import SESSION_FOR, Server, Servers
from workflows.models import Event, IngestToken


def get(app: Any, path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)
        assert broadcast._server_loop is asyncio.get_running_loop()

    asyncio.run(call())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_http_runs_through_the_wsgi_handler_in_a_thread_of_its_own() -> None:
    from config.asgi import application

    seen: list[tuple[set[str], str]] = []

    def started(sender: Any, **kwargs: Any) -> None:
        seen.append((set(kwargs) - {"signal"}, threading.current_thread().name))

    request_started.connect(started)
    try:
        status, body = get(application, "/healthz")
    finally:
        request_started.disconnect(started)
    assert status == 200, body[:300]
    # WSGIHandler sends request_started with the WSGI environ; ASGIHandler with the scope.
    ((keys, thread),) = seen
    assert keys == {"environ"}
    assert thread.startswith("WSGI"), thread  # a2wsgi's pool, not the event loop's thread


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read_through_the_served_app() -> None:
    from config.asgi import application

    _, token = IngestToken.issue("chunky")
    text = json.dumps(f.workflow_started(f.new_id(), 0)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    status, _, body = chunked_post("/api/events", headers, [text[:10], text[10:]], app=application)
    assert status == 200, body[:300]
    assert Event.objects.count() == 1


SETUP = (
    SESSION_FOR
    + """
import json
from django.contrib.auth.models import User
from workflows.models import IngestToken
user = User.objects.create_user("alice", password="pw")
print(json.dumps({"token": IngestToken.issue("serving-test")[1], "session": session(user)}))
"""
)


def test_a_broadcast_from_a_request_reaches_a_socket_on_the_in_memory_layer(
    uvicorn_servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded default: in-memory layer
    uvicorn_servers.env.pop("REDIS_URL", None)
    setup = json.loads(uvicorn_servers.setup(SETUP))
    server: Server = uvicorn_servers.start(setup["token"])
    url = server.url.replace("http://", "ws://") + "/ws/live/"

    async def scenario() -> None:
        ws = await websockets.connect(
            url,
            additional_headers={"Cookie": f"sessionid={setup['session']}", "Origin": server.url},
            open_timeout=20,
        )
        try:
            assert 'id="count-my"' in await asyncio.wait_for(ws.recv(), 20)
            for _ in range(3):  # each request's broadcast, not only a first one
                task_id = f.new_id()
                event = f.human_task_created(f.new_id(), 1, task_id=task_id, assignee="alice")
                await asyncio.to_thread(server.post_events, [event])
                sent = time.monotonic()
                # Well under uvicorn's 20 s websocket ping, which would wake a loop that a
                # send from another thread's loop left asleep.
                async with asyncio.timeout(5):
                    while task_id not in await ws.recv():
                        pass
                assert time.monotonic() - sent < 5
        finally:
            await ws.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.django_db(transaction=True)
def test_a_request_threads_broadcast_is_sent_on_the_servers_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In process: the app called on a running loop, as uvicorn does; ingest's broadcast
    (made in a2wsgi's thread after the commit) must run on that loop, where the in-memory
    layer's queues and their consumers live, not on one async_to_sync would make."""
    from channels.layers import InMemoryChannelLayer

    from config.asgi import application

    real = InMemoryChannelLayer()  # the embedded default's layer, bound to one loop
    loops: list[asyncio.AbstractEventLoop] = []

    class Recording:
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            loops.append(asyncio.get_running_loop())
            await real.group_send(group, message)

    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: Recording())
    _, token = IngestToken.issue("loop-test")
    body = json.dumps(f.human_task_created(f.new_id(), 1, assignee="alice")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]

    # chunked_post runs the app on a loop of its own (asyncio.run): the "server's" loop,
    # which the app records on each call.
    seen: list[asyncio.AbstractEventLoop | None] = []
    original = broadcast.use_server_loop

    def remember(loop: asyncio.AbstractEventLoop) -> None:
        seen.append(loop)
        original(loop)

    monkeypatch.setattr(broadcast, "use_server_loop", remember)
    status, _, answer = chunked_post("/api/events", headers, [body], application)
    assert status == 200, answer[:300]
    assert loops, "nothing was broadcast"
    assert seen and all(loop is seen[-1] for loop in loops), "sent on another loop"
