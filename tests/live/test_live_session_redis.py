"""Sessions end sockets across processes, through Redis (hardening, item 10): two uvicorn
servers, a sign-out on one closes that session's socket on the other, and a password changed
in a third process (``manage.py shell``, as ``changepassword`` would) closes the user's
sockets on both. Skipped unless REDIS_URL is set (tests/live/test_live_redis.py's pattern).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any

import httpx
import pytest
import websockets

from tests.support.server import Server, Servers

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set (the Redis layer is off)"
)

SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
keys = {}
for name in ("alice-a", "alice-b", "bob"):
    user, _ = User.objects.get_or_create(username=name.split("-")[0])
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    keys[name] = s.session_key
print(json.dumps(keys))
"""

CHANGE_PASSWORD = """
from django.contrib.auth.models import User
alice = User.objects.get(username="alice")
alice.set_password("changed-elsewhere-4")
alice.save()
print("ok")
"""


def site_origin(url: str) -> str:
    return url.replace("ws://", "http://", 1).split("/ws/", 1)[0]


async def open_socket(server: Server, session: str) -> Any:
    url = server.url.replace("http://", "ws://") + "/ws/live/"
    ws = await websockets.connect(
        url,
        additional_headers={"Cookie": f"sessionid={session}", "Origin": site_origin(url)},
        open_timeout=20,
    )
    assert 'id="count-my"' in await asyncio.wait_for(ws.recv(), 20)
    return ws


async def close_code(ws: Any, timeout: float = 10) -> int | None:
    """The close code once the server closes the socket; None if it stays open."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed:
        return int(ws.close_code)
    except TimeoutError:
        return None


def sign_out(server: Server, session: str) -> None:
    """Through the page's own form: a GET for the CSRF token, then the POST."""
    with httpx.Client(base_url=server.url, cookies={"sessionid": session}) as client:
        page = client.get("/")
        assert page.status_code == 200, page.text[:200]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match is not None
        response = client.post(
            "/accounts/logout/",
            data={"csrfmiddlewaretoken": match.group(1)},
            headers={"Origin": server.url, "Referer": server.url + "/"},
        )
        assert response.status_code == 302, response.text[:200]


def test_sign_out_and_password_change_close_sockets_across_processes(
    uvicorn_servers: Servers,
) -> None:
    keys = json.loads(uvicorn_servers.setup(SETUP))
    one, two = uvicorn_servers.start(), uvicorn_servers.start()

    async def scenario() -> None:
        a = await open_socket(one, keys["alice-a"])
        b = await open_socket(two, keys["alice-b"])
        bob = await open_socket(two, keys["bob"])
        try:
            await asyncio.to_thread(sign_out, two, keys["alice-a"])
            assert await close_code(a) == 4401  # the signed-out session, on the other server
            assert await close_code(b, timeout=1) is None  # alice's other browser stays
            assert await close_code(bob, timeout=0.1) is None

            await asyncio.to_thread(uvicorn_servers.setup, CHANGE_PASSWORD)
            assert await close_code(b) == 4401
            assert await close_code(bob, timeout=1) is None
        finally:
            await asyncio.gather(*(ws.close() for ws in (a, b, bob)), return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 120))
