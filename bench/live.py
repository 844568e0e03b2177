"""Live-update benchmark: N signed-in websocket clients against uvicorn on 127.0.0.1.

    .venv/bin/python bench/live.py                       # in-memory layer, one server
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/live.py --servers 2

Measures, from POST /api/events to receipt of the fragment on the socket:
- per-user updates with --clients connected (p50, p95 over --samples tasks);
- a broadcast to every client (a task for a team all of them are in): time until all have it;
- server RSS with --idle idle clients, per connection.
With --servers 2 the clients are split over two server processes and events are posted to
the first one only, so half the deliveries cross processes through Redis.
Bounded: every wait has a timeout; only 127.0.0.1 is contacted; the servers are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.server import free_port, uvicorn_command, wait_until_up  # noqa: E402

# The websocket options of `make serve` (see the Makefile and bench/README.md, "Memory"):
# per-message-deflate keeps zlib state per socket and direction: 3,000 idle sockets took 313 MiB
# with it, 192 MiB without; our fragments are small and mostly go to one socket each.
SERVER_OPTIONS = ["--ws-per-message-deflate", "false", "--timeout-graceful-shutdown", "10"]

SETUP = """
import json, os
from django.contrib.auth.models import Group, User
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from workflows.models import IngestToken
n = int(os.environ["BENCH_USERS"])
team = Group.objects.create(name="everyone")
User.objects.bulk_create(User(username=f"u{i}", password="!") for i in range(n))
users = list(User.objects.filter(username__startswith="u").order_by("id"))
Group.user_set.through.objects.bulk_create(
    Group.user_set.through(user_id=u.pk, group_id=team.pk) for u in users)
cookies = {}
for u in users:
    s = SessionStore()
    s[SESSION_KEY] = str(u.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = u.get_session_auth_hash()
    s.create()
    cookies[u.username] = s.session_key
print(json.dumps({"token": IngestToken.issue("bench")[1], "sessions": cookies}))
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def task_event(assignee: str, title: str) -> tuple[dict[str, Any], str]:
    task_id = str(uuid.uuid4())
    return {
        "type": "HumanTaskCreated",
        "instance_id": str(uuid.uuid4()),
        "timestamp": "2026-11-25T09:00:00Z",
        "step_name": "approve",
        "task_id": task_id,
        "assignee": assignee,
        "title": title,
    }, task_id


class Client:
    def __init__(self, username: str, session: str, url: str):
        self.username, self.session, self.url = username, session, url
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            self.url,
            additional_headers={
                "Cookie": f"sessionid={self.session}",
                # The site's own origin, port included (live/origin.py).
                "Origin": self.url.replace("ws://", "http://", 1).split("/ws/", 1)[0],
            },
            open_timeout=60,
            max_queue=64,
        )
        await asyncio.wait_for(self.ws.recv(), 30)  # the counts sent on connect
        await self.ws.send(json.dumps({"watch": "list", "mode": "mine", "query": ""}))
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for message in self.ws:
                now = time.perf_counter()
                for key, fut in list(self.waiting.items()):
                    if key in message and not fut.done():
                        fut.set_result(now)
        except websockets.ConnectionClosed:
            pass

    def expect(self, key: str) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[key] = fut
        return fut

    async def close(self) -> None:
        if self.reader:
            self.reader.cancel()
        await self.ws.close()


async def connect_all(clients: list[Client]) -> None:
    gate = asyncio.Semaphore(50)

    async def one(c: Client) -> None:
        async with gate:
            await c.connect()

    await asyncio.gather(*(one(c) for c in clients))


async def measure(
    args: argparse.Namespace,
    env: dict[str, str],
    ports: list[int],
    pids: list[int],
    setup: dict[str, Any],
) -> dict[str, Any]:
    sessions: dict[str, str] = setup["sessions"]
    names = list(sessions)
    api = f"http://127.0.0.1:{ports[0]}/api/events"
    headers = {"Authorization": f"Bearer {setup['token']}"}
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def post(event: dict[str, Any]) -> float:
            t0 = time.perf_counter()
            response = await http.post(api, json=event)
            response.raise_for_status()
            return t0

        # Idle memory first, on a fresh server: what a connection costs, not what the
        # busier phases left in the heap.
        # --- idle memory ------------------------------------------------------------------
        base = sum(rss_kib(p) for p in pids)
        idle = [
            Client(n, sessions[n], f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/live/")
            for i, n in enumerate(names[: args.idle])
        ]
        await connect_all(idle)
        await asyncio.sleep(3)
        loaded = sum(rss_kib(p) for p in pids)
        results["idle"] = {
            "clients": len(idle),
            "rss_before_mib": round(base / 1024, 1),
            "rss_after_mib": round(loaded / 1024, 1),
            "per_connection_kib": round((loaded - base) / len(idle), 1),
        }
        for c in idle:
            await c.close()
        await asyncio.sleep(2)
        if args.idle_only:
            return results
        # --- per-user updates with --clients connected ---------------------------------
        clients = [
            Client(n, sessions[n], f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/live/")
            for i, n in enumerate(names[: args.clients])
        ]
        t = time.perf_counter()
        await connect_all(clients)
        results["connect_s"] = round(time.perf_counter() - t, 1)
        await asyncio.sleep(1)
        latencies = []
        for k in range(args.samples):
            client = clients[(k * 7919) % len(clients)]
            event, task_id = task_event(f"user:{client.username}", f"Task {k}")
            fut = client.expect(task_id)
            t0 = await post(event)
            latencies.append((await asyncio.wait_for(fut, 10) - t0) * 1000)
        results["per_user_ms"] = {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(pct(latencies, 95), 1),
            "max": round(max(latencies), 1),
        }

        # --- one broadcast that reaches every client ------------------------------------
        fanout = []
        for k in range(args.broadcasts):
            event, task_id = task_event("group:everyone", f"Team task {k}")
            futs = [c.expect(task_id) for c in clients]
            t0 = await post(event)
            done = await asyncio.wait_for(asyncio.gather(*futs), 60)
            fanout.append((max(done) - t0) * 1000)
            await asyncio.sleep(0.5)
        results["broadcast_all_ms"] = [round(x) for x in fanout]
        for c in clients:
            await c.close()
        await asyncio.sleep(2)

    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--broadcasts", type=int, default=5)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument(
        "--server-options",
        default=" ".join(SERVER_OPTIONS),
        help="uvicorn options (default: those of `make serve`); '' for uvicorn's defaults",
    )
    parser.add_argument(
        "--idle-only", action="store_true", help="only the idle-memory phase (quicker)"
    )
    args = parser.parse_args()
    if args.servers > 1 and not os.environ.get("REDIS_URL"):
        sys.exit("--servers > 1 needs REDIS_URL (the in-memory layer is one process)")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.idle * 3 + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    tmp = tempfile.mkdtemp(prefix="bench-live-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    n_users = max(args.clients, args.idle)
    out = subprocess.run(
        [*manage, "shell", "-c", SETUP],
        env={**env, "BENCH_USERS": str(n_users)},
        check=True,
        cwd=ROOT,
        capture_output=True,
    ).stdout.decode()
    setup = json.loads(out.strip().splitlines()[-1])

    ports = [free_port() for _ in range(args.servers)]
    options = ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    servers = [
        subprocess.Popen(
            uvicorn_command(p, *options, *args.server_options.split()), env=env, cwd=ROOT
        )
        for p in ports
    ]
    try:
        for p, s in zip(ports, servers, strict=True):
            wait_until_up(f"http://127.0.0.1:{p}/accounts/login/", s, timeout=30)
        results = asyncio.run(measure(args, env, ports, [s.pid for s in servers], setup))
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            try:
                s.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"server {s.pid} did not stop in 30 s; killed", file=sys.stderr)
                s.kill()
                s.wait(timeout=10)
    layer = "redis" if os.environ.get("REDIS_URL") else "in-memory"
    print(
        json.dumps(
            {
                "layer": layer,
                "servers": args.servers,
                "server_options": args.server_options,
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
