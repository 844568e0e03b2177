"""With the Redis channel layer, 200 simultaneous live sockets all connect, stay up and hear
a broadcast, across two real uvicorn processes (issue 4, point 7).

Skipped unless REDIS_URL is set. The servers come from the ``uvicorn_servers`` fixture
(tests/conftest.py): their own database (a SQLite file, or a fresh PostgreSQL database when
DATABASE_URL is PostgreSQL) and a channel-layer key prefix of their own. Half the sockets
are on each server and the event is posted to the first, so half the deliveries cross
processes through Redis. The sockets are held open past channels-redis' 5 s blocking
receive (BZPOPMIN), which is when redis-py 8's default 5 s socket timeout used to tear them
down.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest
import websockets

from tests.support import events as f
from tests.support.server import SESSION_FOR, Server, Servers

SOCKETS = 200
HOLD = 7.0  # seconds: longer than one BZPOPMIN (5 s)

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set (the Redis layer is off)"
)

SETUP = (
    SESSION_FOR
    + """
import json, os
from django.contrib.auth.models import Group, User
from workflows.models import IngestToken
team = Group.objects.create(name="everyone")
User.objects.bulk_create(User(username=f"u{i}", password="!") for i in range(int(os.environ["N"])))
users = list(User.objects.filter(username__startswith="u").order_by("id"))
team.user_set.add(*users)
sessions = [session(u) for u in users]
print(json.dumps({"token": IngestToken.issue("redis-test")[1], "sessions": sessions}))
"""
)


@pytest.fixture
def servers(uvicorn_servers: Servers) -> tuple[list[Server], list[str]]:
    setup = json.loads(uvicorn_servers.setup(SETUP, N=str(SOCKETS)))
    return [uvicorn_servers.start(setup["token"]) for _ in range(2)], setup["sessions"]


def site_origin(ws_url: str) -> str:
    """ws://127.0.0.1:8000/ws/live/ -> http://127.0.0.1:8000"""
    return ws_url.replace("ws://", "http://", 1).split("/ws/", 1)[0]


async def open_sockets(urls: list[str], sessions: list[str]) -> tuple[list[Any], list[str]]:
    """Every socket at once (no client-side gate): the simultaneous case."""

    async def one(url: str, session: str) -> Any:
        ws = await websockets.connect(
            url,
            # The site's own origin, port included (live/origin.py).
            additional_headers={"Cookie": f"sessionid={session}", "Origin": site_origin(url)},
            open_timeout=20,
        )
        first = await asyncio.wait_for(ws.recv(), 20)  # the counts, sent on every connect
        assert 'id="count-my"' in first
        return ws

    results = await asyncio.gather(
        *(one(urls[i % len(urls)], s) for i, s in enumerate(sessions)), return_exceptions=True
    )
    sockets = [r for r in results if not isinstance(r, BaseException)]
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return sockets, errors


async def wait_for(ws: Any, needle: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while needle not in await ws.recv():
            pass


def test_200_simultaneous_sockets_connect_stay_up_and_hear_a_broadcast(
    servers: tuple[list[Server], list[str]],
) -> None:
    started, sessions = servers
    urls = [srv.url.replace("http://", "ws://") + "/ws/live/" for srv in started]

    async def scenario() -> None:
        t0 = time.monotonic()
        sockets, errors = await open_sockets(urls, sessions)
        try:
            assert errors == [], errors[:5]
            assert len(sockets) == SOCKETS
            assert time.monotonic() - t0 < 30
            await asyncio.sleep(HOLD)
            closed = [ws.close_code for ws in sockets if ws.close_code is not None]
            assert closed == [], f"{len(closed)} sockets closed while idle: {closed[:5]}"

            # One team task: every socket hears it, on both servers.
            event = f.human_task_created(
                f.new_id(), 1, task_id=(task_id := f.new_id()), assignee="group:everyone"
            )
            await asyncio.to_thread(started[0].post_events, [event])
            arrived = await asyncio.gather(
                *(wait_for(ws, task_id, 20) for ws in sockets), return_exceptions=True
            )
            missed = [a for a in arrived if isinstance(a, BaseException)]
            assert missed == [], f"{len(missed)} sockets missed the broadcast: {missed[:3]!r}"
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 120))
