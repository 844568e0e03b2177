"""PostgreSQL restarted under load: what the engine, a person's pages and the live socket see
while it is down, and whether everything comes back by itself with nothing lost.

    .venv/bin/python bench/faults/postgres_outage.py                 # 30 s down, as the issue asks
    .venv/bin/python bench/faults/postgres_outage.py --down 5 --before 3 --after 10 --json

Everything runs on 127.0.0.1 against a PostgreSQL server of its own on a spare port
(tests/support/pgcluster.py), so the machine's PostgreSQL is never touched:

1. a fresh cluster, migrated, with a person (a session), an ingest token and an engine's
   command webhook (tests/support/receiver.py); one uvicorn server as ``make serve`` runs it
   (the embedded outbox worker on), the in-memory channel layer (``--redis URL`` for Redis);
2. load: an engine posting batches (a workflow and a task for the person each) at ``--rate``
   per second, sending a refused batch again after its ``Retry-After`` as an engine does; the
   person's page (My tasks) read every 0.2 s; the person's live socket open throughout;
3. the cluster is stopped (``fast``, or ``--crash`` for ``immediate``) after ``--before``
   seconds and started again ``--down`` seconds later; the load goes on ``--after`` seconds;
4. then: every batch the engine sent is stored exactly once and projected; the answers while
   down were 503 with ``Retry-After`` (never 500) and the styled page; ``/readyz`` said so;
   after the restart, the first success of each kind and its delay; the socket (reconnected
   if it dropped) shows a task created after the restart; a person's action taken after the
   restart reaches the engine through the outbox worker, which lived through the outage.

Exit status 0 when nothing was lost and everything came back, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from tests.support import events as f  # noqa: E402
from tests.support.pgcluster import Cluster  # noqa: E402
from tests.support.receiver import CommandReceiver  # noqa: E402
from tests.support.server import SESSION_FOR, Server, free_port, last_line, manage, print_result  # noqa: E402

SETUP = (
    SESSION_FOR
    + """
import json
from django.contrib.auth.models import User
from workflows.models import IngestToken
user = User.objects.create_user("pat", password="!")
print(json.dumps({"token": IngestToken.issue("faults")[1], "session": session(user)}))
"""
)

COUNT = """
import json
from workflows.models import Event, HumanTask, OutboxCommand, WorkflowInstance
from django.db.models import Count
dupes = Event.objects.values("event_id").annotate(n=Count("seq")).filter(n__gt=1).count()
engine = Event.objects.filter(source__startswith="token:")
print(json.dumps({"events": engine.count(), "duplicates": dupes,
                  "instances": WorkflowInstance.objects.count(),
                  "tasks": HumanTask.objects.count(),
                  "commands": list(OutboxCommand.objects.values_list("status", flat=True))}))
"""

CSRF = "f" * 32  # any well-formed secret: the cookie and the header must only agree


@dataclass
class Answers:
    """Status codes by phase (``Clock``'s labels) for one kind of request."""

    by_phase: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    first_ok_after_restart: float | None = None  # seconds after the cluster was started

    def add(self, phase: str, status: str) -> None:
        self.by_phase[phase][status] += 1


@dataclass
class Result:
    down_seconds: float
    mode: str
    layer: str
    engine: dict[str, Any]
    page: dict[str, Any]
    readyz_while_down: int | None
    sent_events: int
    stored: dict[str, Any]
    socket_saw_task_after_restart: bool
    socket_reconnects: int
    command_after_restart_delivered: bool
    styled_503_page: bool
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class Clock:
    """The scenario's phase: before, stopping, down, starting, after. A request is counted
    in the phase it was sent and answered in, or in "sent -> answered" when they differ (a
    request that straddles a change may get either answer)."""

    def __init__(self) -> None:
        self.phase = "before"
        self.restarted_at = 0.0

    def label(self, sent_in: str) -> str:
        now = self.phase
        return sent_in if sent_in == now else f"{sent_in} -> {now}"


def _answers(answers: Answers) -> dict[str, Any]:
    return {
        "by_phase": {k: dict(v) for k, v in answers.by_phase.items()},
        "first_ok_after_restart_s": answers.first_ok_after_restart,
    }


def run(
    *,
    down: float = 30.0,
    before: float = 5.0,
    after: float = 15.0,
    rate: float = 5.0,
    crash: bool = False,
    redis_url: str = "",
) -> Result:
    cluster = Cluster()
    receiver = CommandReceiver(secret := secrets.token_hex(16))
    server: Server | None = None
    problems: list[str] = []
    try:
        cluster.start()
        database = cluster.create_database("inbox")
        env = _environment(database, receiver.url, secret, redis_url)
        manage(env, "migrate", "--noinput", "-v0")
        setup = json.loads(last_line(manage(env, "shell", "-c", SETUP)))
        port = free_port()
        server = Server(url=f"http://127.0.0.1:{port}", env=env, token=setup["token"], port=port)
        server.start()

        clock = Clock()
        stopping = threading.Event()
        engine, page = Answers(), Answers()
        sent: list[dict[str, Any]] = []
        styled: list[bool] = []
        engine_thread = threading.Thread(
            target=_engine, args=(server, clock, stopping, rate, engine, sent), daemon=True
        )
        page_thread = threading.Thread(
            target=_pages, args=(server, setup["session"], clock, stopping, page, styled)
        )
        socket = _Socket(server, setup["session"])
        socket.start()
        engine_thread.start()
        page_thread.start()

        time.sleep(before)
        clock.phase = "stopping"
        cluster.stop("immediate" if crash else "fast")
        clock.phase = "down"
        time.sleep(min(1.0, down / 2))
        readyz = _status(server.url + "/readyz")
        time.sleep(max(0.0, down - min(1.0, down / 2)))
        clock.phase = "starting"
        cluster.start()
        clock.restarted_at = time.monotonic()
        clock.phase = "after"

        # A task made after the restart, on the socket; an action after it, to the engine.
        time.sleep(min(3.0, after / 3))
        marker = f.new_id()
        late = [
            f.workflow_started(instance := f.new_id(), 0, workflow_name="after-restart"),
            f.human_task_created(instance, 1, task_id=marker, assignee="pat"),
        ]
        _send_until_accepted(server, late)
        sent.extend(late)
        seen = socket.wait_for(str(marker), timeout=20)
        delivered = _complete_and_wait(server, setup["session"], marker, receiver)

        time.sleep(max(0.0, after - min(3.0, after / 3)))
        stopping.set()
        engine_thread.join(30)
        page_thread.join(30)
        socket.stop()

        stored = json.loads(last_line(manage(env, "shell", "-c", COUNT)))
        problems += _check(engine, page, sent, stored, readyz, styled, seen, delivered)
        return Result(
            down_seconds=down,
            mode="immediate (crash)" if crash else "fast (clean restart)",
            layer="redis" if redis_url else "in-memory",
            engine=_answers(engine),
            page=_answers(page),
            readyz_while_down=readyz,
            sent_events=len(sent),
            stored=stored,
            socket_saw_task_after_restart=seen,
            socket_reconnects=socket.reconnects,
            command_after_restart_delivered=delivered,
            styled_503_page=bool(styled) and all(styled),
            problems=problems,
        )
    finally:
        if server is not None:
            server.stop()
        receiver.close()
        cluster.close()


def _environment(database: str, webhook: str, secret: str, redis_url: str) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database,
        "OUTBOX_EMBEDDED_WORKER": "1",
        "OUTBOX_WEBHOOK_URL": webhook,
        "OUTBOX_WEBHOOK_SECRET": secret,
        "OUTBOX_BACKOFF_BASE": "0.5",
        "OUTBOX_BACKOFF_MAX": "2",
        "LOG_LEVEL": "ERROR",
        "CHANNEL_LAYER_PREFIX": f"faults-{uuid.uuid4().hex[:8]}",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return None


def _engine(
    server: Server,
    clock: Clock,
    stopping: threading.Event,
    rate: float,
    answers: Answers,
    sent: list[dict[str, Any]],
) -> None:
    """An engine's stream: each batch a workflow with a task for pat; a refused batch is sent
    again after Retry-After (here: at once when it says so, as the load must go on)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=15) as client:
        while not stopping.is_set():
            batch = [
                f.workflow_started(instance := f.new_id(), 0),
                f.human_task_created(instance, 1, assignee="pat"),
            ]
            while not stopping.is_set():
                sent_in = clock.phase
                try:
                    status = str(client.post("/api/events", json=batch).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                phase = clock.label(sent_in)
                answers.add(phase, status)
                if status in ("200", "201"):
                    sent.extend(batch)
                    if phase == "after" and answers.first_ok_after_restart is None:
                        answers.first_ok_after_restart = time.monotonic() - clock.restarted_at
                    break
                stopping.wait(0.5)  # Retry-After says 5 s; shorter keeps the measure fine
            stopping.wait(1 / rate)


def _pages(
    server: Server,
    session: str,
    clock: Clock,
    stopping: threading.Event,
    answers: Answers,
    styled: list[bool],
) -> None:
    cookies = {"sessionid": session}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=15) as client:
        while not stopping.is_set():
            sent_in = clock.phase
            try:
                response = client.get("/")
                status = str(response.status_code)
                if response.status_code == 503:
                    styled.append(
                        "Temporarily unavailable" in response.text
                        and "css/app.css" in response.text
                        and response.headers.get("Retry-After", "").isdigit()
                    )
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            phase = clock.label(sent_in)
            answers.add(phase, status)
            if status == "200" and phase == "after" and answers.first_ok_after_restart is None:
                answers.first_ok_after_restart = time.monotonic() - clock.restarted_at
            stopping.wait(0.2)


def _send_until_accepted(server: Server, events: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(
            server.url + "/api/events",
            json=events,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=15,
        )
        if response.status_code in (200, 201):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingest did not come back: {response.status_code}")
        time.sleep(0.5)


def _complete_and_wait(
    server: Server, session: str, task: Any, receiver: CommandReceiver, timeout: float = 30
) -> bool:
    response = httpx.post(
        f"{server.url}/api/tasks/{task}/complete",
        json={"form_data": {}, "comment": "after the restart"},
        cookies={"sessionid": session, "csrftoken": CSRF},
        headers={"X-CSRFToken": CSRF, "Origin": server.url, "Referer": server.url + "/"},
        timeout=15,
    )
    if response.status_code != 200:
        raise RuntimeError(f"completing failed: {response.status_code} {response.text[:300]}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.get("task_id") == str(task) for c in list(receiver.received)):
            return True
        time.sleep(0.2)
    return False


class _Socket:
    """The person's live socket in a thread of its own, reconnecting as the page's script does."""

    def __init__(self, server: Server, session: str) -> None:
        self.url = server.url.replace("http://", "ws://") + "/ws/live/"
        self.origin = server.url
        self.session = session
        self.messages: list[str] = []
        self.reconnects = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(15)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in m for m in list(self.messages)):
                return True
            time.sleep(0.1)
        return False

    async def _run(self) -> None:
        first = True
        while not self.stopping.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={
                        "Cookie": f"sessionid={self.session}",
                        "Origin": self.origin,
                    },
                    open_timeout=10,
                ) as ws:
                    if not first:
                        self.reconnects += 1
                    first = False
                    while not self.stopping.is_set():
                        try:
                            self.messages.append(str(await asyncio.wait_for(ws.recv(), 0.5)))
                        except TimeoutError:
                            continue
            except Exception:
                await asyncio.sleep(1.0)


def _check(
    engine: Answers,
    page: Answers,
    sent: list[dict[str, Any]],
    stored: dict[str, Any],
    readyz: int | None,
    styled: list[bool],
    seen: bool,
    delivered: bool,
) -> list[str]:
    problems = []
    for name, answers in (("engine", engine), ("page", page)):
        for phase, counts in answers.by_phase.items():
            bad = {s: n for s, n in counts.items() if s not in ("200", "201", "503")}
            if bad:
                problems.append(f"{name} got {bad} while {phase}")
            if phase == "down" and set(counts) - {"503"}:
                problems.append(f"{name} got {dict(counts)} while the database was down")
        if answers.first_ok_after_restart is None:
            problems.append(f"{name} did not come back after the restart")
    if not engine.by_phase.get("down", {}).get("503"):
        problems.append("the engine never saw a 503 while the database was down")
    if stored["events"] != len(sent) or stored["duplicates"]:
        problems.append(
            f"sent {len(sent)} accepted events, stored {stored['events']} "
            f"({stored['duplicates']} duplicated)"
        )
    if stored["instances"] * 2 != len(sent) or stored["tasks"] * 2 != len(sent):
        problems.append(f"projections off: {stored} for {len(sent)} events")
    if readyz != 503:
        problems.append(f"/readyz answered {readyz} while the database was down")
    if styled and not all(styled):
        problems.append("a 503 page was not the styled one")
    if not seen:
        problems.append("the live socket did not show the task made after the restart")
    if not delivered:
        problems.append("the action after the restart did not reach the engine")
    if "dead" in stored["commands"]:
        problems.append(f"dead commands: {stored['commands']}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--down", type=float, default=30.0, help="seconds the database is down")
    parser.add_argument("--before", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=5.0, help="engine batches per second")
    parser.add_argument("--crash", action="store_true", help="stop as a crash (immediate)")
    parser.add_argument("--redis", default="", help="a Redis URL for the channel layer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(
        down=args.down,
        before=args.before,
        after=args.after,
        rate=args.rate,
        crash=args.crash,
        redis_url=args.redis,
    )
    print_result(result, args.json, "OK: nothing lost, everything back")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
