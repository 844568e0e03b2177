"""Fault scenarios on real servers (issue 13): sockets churning and dropped in storms, and
Redis stopped under load. Shared by tests/faults (short) and bench/faults (full size).

Each scenario starts its own redis-server on a spare port of 127.0.0.1 and uvicorn servers
running ``tests.support.probe_asgi`` (the project plus ``/__probe__``: tasks, sockets, Redis
connections, fds, RSS from inside each process).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.support import events as f
from tests.support.redis_server import RedisServer
from tests.support.server import SESSION_FOR, Server, Servers

PROBE_APP = "tests.support.probe_asgi:application"

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
print(json.dumps({"token": IngestToken.issue("faults")[1], "sessions": sessions}))
"""
)


@dataclass
class Site:
    redis: RedisServer
    servers: list[Server]
    sessions: list[str]
    logs: list[Path]
    harness: Servers

    def ws_url(self, i: int) -> str:
        return self.servers[i % len(self.servers)].url.replace("http://", "ws://") + "/ws/live/"

    def probe(self, i: int, trim: bool = False) -> dict[str, Any]:
        url = self.servers[i].url + "/__probe__" + ("?trim=1" if trim else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return dict(json.loads(r.read()))

    def probes(self, trim: bool = False) -> list[dict[str, Any]]:
        return [self.probe(i, trim) for i in range(len(self.servers))]

    def redis_connections(self) -> list[int]:
        """Connections each server holds to Redis, from Redis's side (CLIENT LIST names)."""
        names = self.redis.connections_by_name()
        return [names.get(f"taskinbox-{p['pid']}", 0) for p in self.probes()]

    def stop_servers(self) -> list[str]:
        """Stop every server (SIGTERM); what they logged while stopping."""
        sizes = [log.stat().st_size if log.exists() else 0 for log in self.logs]
        for server in self.servers:
            server.stop()
        out = []
        for log, size in zip(self.logs, sizes, strict=True):
            with log.open("rb") as fh:
                fh.seek(size)
                out.append(fh.read().decode(errors="replace"))
        return out


@contextmanager
def site(
    tmp: Path,
    *,
    users: int,
    servers: int = 2,
    connections: int = 50,
    idle_seconds: int = 30,
    settings: str = "config.settings",
) -> Iterator[Site]:
    redis = RedisServer(tmp / "redis")
    redis.start()
    harness: Servers | None = None
    try:
        harness = Servers(tmp, prefix="faults")
        harness.env.update(
            REDIS_URL=redis.url,
            REDIS_LAYER_CONNECTIONS=str(connections),
            REDIS_LAYER_IDLE_SECONDS=str(idle_seconds),
            DJANGO_SETTINGS_MODULE=settings,
        )
        setup = json.loads(harness.setup(SETUP, N=str(users)))
        logs = [tmp / f"server-{i}.log" for i in range(servers)]
        token = setup["token"]
        started = [harness.start(token, app=PROBE_APP, log=log) for log in logs]
        yield Site(redis, started, setup["sessions"], logs, harness)
    finally:
        try:
            if harness is not None:
                harness.close()
        finally:
            redis.stop()


async def open_socket(url: str, session: str, timeout: float = 30) -> Any:
    origin = url.replace("ws://", "http://", 1).split("/ws/", 1)[0]
    ws = await websockets.connect(
        url,
        additional_headers={"Cookie": f"sessionid={session}", "Origin": origin},
        open_timeout=timeout,
        max_queue=None,
    )
    first = str(await asyncio.wait_for(ws.recv(), timeout))  # the counts: groups joined
    if 'id="count-my"' not in first:
        raise AssertionError(f"unexpected first message: {first[:200]}")
    return ws


def drop(ws: Any) -> None:
    """Gone without a closing handshake, as a phone leaving the network."""
    ws.transport.abort()


async def churn(s: Site, cycles: int, concurrency: int = 40) -> int:
    """``cycles`` sockets opened and closed, across the servers; half close cleanly, half
    are dropped. Returns the number of failed cycles."""
    failures = 0
    next_cycle = 0

    async def worker() -> None:
        nonlocal failures, next_cycle
        while next_cycle < cycles:
            i = next_cycle
            next_cycle += 1
            try:
                ws = await open_socket(s.ws_url(i), s.sessions[i % len(s.sessions)])
            except Exception:
                failures += 1
                continue
            if random.random() < 0.5:
                await ws.close()
            else:
                drop(ws)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


async def storm(s: Site, size: int, batch: int = 100) -> dict[str, Any]:
    """``size`` sockets opened (``batch`` at a time), held, then all dropped at once. The
    Redis connections each server holds are sampled while their discards run."""
    sockets: list[Any] = []
    t_open = time.monotonic()
    for start in range(0, size, batch):
        sockets += await asyncio.gather(
            *(open_socket(s.ws_url(i), s.sessions[i % len(s.sessions)])
              for i in range(start, min(size, start + batch)))
        )  # fmt: skip
    open_s = time.monotonic() - t_open
    at_peak = s.probes()
    redis_at_peak = s.redis_connections()
    for ws in sockets:
        drop(ws)
    peak = [0] * len(s.servers)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        counts = await asyncio.to_thread(s.redis_connections)
        peak = [max(a, b) for a, b in zip(peak, counts, strict=True)]
        probes = await asyncio.to_thread(s.probes)
        if all(p["sockets"] == 0 for p in probes):
            break
        await asyncio.sleep(0.05)
    return {
        "open": at_peak,
        "open_redis": redis_at_peak,
        "peak_redis": peak,
        "drained_s": time.monotonic() - t0,
        "open_s": open_s,
    }


async def wait_idle(
    s: Site, seconds: float, settle: float = 60, trim: bool = False
) -> list[dict[str, Any]]:
    """Wait ``seconds`` (the pools' idle timeout and then some), then until no socket is
    left on any server (bounded by ``settle``); the probes then (``trim``: see probe_asgi)."""
    await asyncio.sleep(seconds)
    deadline = time.monotonic() + settle
    while True:
        probes = await asyncio.to_thread(s.probes)
        if all(p["sockets"] == 0 and p["layer_receives"] == 0 for p in probes):
            return await asyncio.to_thread(s.probes, trim) if trim else probes
        if time.monotonic() > deadline:
            return probes
        await asyncio.sleep(0.5)


async def hear_broadcast(s: Site, n: int = 10, timeout: float = 20) -> int:
    """``n`` sockets across the servers hear one team task posted to the first server;
    how many did."""
    sockets = await asyncio.gather(*(open_socket(s.ws_url(i), s.sessions[i]) for i in range(n)))
    try:
        task_id = f.new_id()
        event = f.human_task_created(f.new_id(), 1, task_id=task_id, assignee="group:everyone")
        await asyncio.to_thread(s.servers[0].post_events, [event])

        async def hears(ws: Any) -> bool:
            try:
                async with asyncio.timeout(timeout):
                    while task_id not in await ws.recv():
                        pass
                return True
            except Exception:
                return False

        return sum(await asyncio.gather(*(hears(ws) for ws in sockets)))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


@dataclass
class OutageReport:
    down_s: float = 0.0
    ingest_ok: int = 0
    ingest_failed: int = 0
    pages_ok: int = 0
    pages_failed: int = 0
    actions_ok: int = 0  # claims of a team task, through the task page's form
    actions_failed: int = 0
    closed_codes: dict[int, int] = field(default_factory=dict)
    reconnected: int = 0
    reconnect_s: float = 0.0
    missed: int = 0  # tasks created while Redis was down and not shown after reconnect
    created_while_down: int = 0
    broadcast_failures: float = 0.0
    # A page reconnecting while Redis is down: its handshake is refused (HTTP status), so
    # the page's reconnects back off instead of opening and closing every half second.
    refused_status: int = 0


def _get(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _claim(url: str, cookie: str, task_id: str) -> bool:
    """Claim a team task as a person does: the task page, then its form's POST."""
    with httpx.Client(base_url=url, cookies={"sessionid": cookie}, timeout=10) as client:
        page = client.get(f"/tasks/{task_id}/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or match is None:
            return False
        response = client.post(
            f"/tasks/{task_id}/claim/",
            data={"csrfmiddlewaretoken": match.group(1)},
            headers={"Referer": url + f"/tasks/{task_id}/"},
        )
        return response.status_code in (200, 302)


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def redis_outage(s: Site, sockets_n: int, down: float) -> OutageReport:
    """``sockets_n`` sockets open; Redis stopped for ``down`` seconds while events are
    posted and pages loaded on both servers; then started again (empty). The sockets must
    have closed, reconnect on their own (as the page's script does: we retry every 0.5 s),
    and their re-sync (the counts sent on connect) must count every task created."""
    report = OutageReport()
    urls = [s.ws_url(i) for i in range(sockets_n)]
    sockets = await asyncio.gather(*(open_socket(urls[i], s.sessions[i]) for i in range(sockets_n)))
    closed = asyncio.Event()
    codes: list[int] = []

    async def watch(ws: Any) -> None:
        try:
            async for _ in ws:
                pass
        except Exception:
            pass
        codes.append(ws.close_code if ws.close_code is not None else -1)
        if len(codes) == len(sockets):
            closed.set()

    watchers = [asyncio.ensure_future(watch(ws)) for ws in sockets]
    failures_before = sum(_metric(srv.url, "taskinbox_live_broadcast_failures_total")
                          for srv in s.servers)  # fmt: skip
    s.redis.stop()
    t_down = time.monotonic()
    created: list[str] = []
    i = 0
    while time.monotonic() - t_down < down:
        server = s.servers[i % len(s.servers)]
        task_id = f.new_id()
        event = f.human_task_created(f.new_id(), 1, task_id=task_id, assignee="group:everyone")
        try:
            await asyncio.to_thread(server.post_events, [event])
            report.ingest_ok += 1
            created.append(task_id)
        except Exception:
            report.ingest_failed += 1
        status = await asyncio.to_thread(_get, server.url + "/queues/", s.sessions[0])
        if status == 200:
            report.pages_ok += 1
        else:
            report.pages_failed += 1
        if i % 2 and created:  # every other turn, the first user claims the last task
            if await asyncio.to_thread(_claim, server.url, s.sessions[0], created[-1]):
                report.actions_ok += 1
            else:
                report.actions_failed += 1
        i += 1
        await asyncio.sleep(0.2)
    report.created_while_down = len(created)
    await asyncio.wait_for(closed.wait(), 30)  # every socket noticed
    try:
        ws = await open_socket(urls[0], s.sessions[0], timeout=10)
    except websockets.InvalidStatus as refused:
        report.refused_status = refused.response.status_code
    else:
        await ws.close()
    for code in codes:
        report.closed_codes[code] = report.closed_codes.get(code, 0) + 1
    report.broadcast_failures = (
        sum(_metric(srv.url, "taskinbox_live_broadcast_failures_total") for srv in s.servers)
        - failures_before
    )
    s.redis.start(tries=1)  # the port the servers know
    report.down_s = time.monotonic() - t_down
    t_up = time.monotonic()
    await asyncio.gather(*watchers)

    first_messages = await asyncio.wait_for(
        asyncio.gather(*(_resync(urls[i], s.sessions[i]) for i in range(sockets_n))), 60
    )
    report.reconnect_s = time.monotonic() - t_up
    report.reconnected = len(first_messages)
    # Every page's re-sync counts every task created and claimed while Redis was down: the
    # team queue holds those not claimed; the first user's own list, the claimed ones.
    queued = report.ingest_ok - report.actions_ok
    mine = f'id="count-my" aria-label="{report.actions_ok} open"'
    for n, counts in enumerate(first_messages):
        queue_ok = f'id="count-queues" aria-label="{queued} open"' in counts
        if not queue_ok or (n == 0 and mine not in counts):
            report.missed += 1
    return report


async def _resync(url: str, session: str) -> str:
    """Reconnect as the page does (retrying) and return its first message (the counts)."""
    while True:
        try:
            origin = url.replace("ws://", "http://", 1).split("/ws/", 1)[0]
            ws = await websockets.connect(
                url,
                additional_headers={"Cookie": f"sessionid={session}", "Origin": origin},
                open_timeout=10,
            )
        except Exception:
            await asyncio.sleep(0.5)
            continue
        try:
            first = str(await asyncio.wait_for(ws.recv(), 10))
        except Exception:
            await asyncio.sleep(0.5)
            continue
        finally:
            await ws.close()
        if 'id="count-my"' in first:
            return first
