"""The engine's command receiver down while people work (compressed: ``--down`` seconds with
a short retry backoff stand for ten minutes), then back, losing the first acknowledgements on
the way: no command lost, each instance's commands applied in the order people acted, none
dead before its configured attempts, and none applied twice by the engine.

    .venv/bin/python bench/faults/engine_down.py                    # 20 s down, 8 workflows
    .venv/bin/python bench/faults/engine_down.py --down 600 --backoff-max 60 --workflows 20

Everything on 127.0.0.1:

- the dashboard: one uvicorn as ``make serve`` runs it (the embedded outbox worker on), its
  own database (tests/support/server.py's ``Servers``: a SQLite file, or a fresh PostgreSQL
  database when DATABASE_URL is postgres://), ``OUTBOX_BACKOFF_BASE``/``_MAX`` short;
- the engine: litestar-workflows' real ``LocalExecutionEngine`` in the example app
  (examples/litestar_approval.py) under uvicorn in this process, sending its events to the
  dashboard; its command handler is wrapped to record what it applied and in which order;
- between them, for the commands, a TCP forwarder (tests/support/proxy.py) that is taken
  down (connections refused) and brought back, losing the next ``--lost-answers`` answers.

People act while the receiver is down: a finance clerk claims and completes most tasks, an
admin reassigns and then cancels the others: two commands per instance whose order matters.
"""

from __future__ import annotations

import argparse
import collections
import json
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from tests.support.proxy import Proxy  # noqa: E402
from tests.support.server import SESSION_FOR, Servers, free_port, print_result  # noqa: E402

SETUP = (
    SESSION_FOR
    + """
import json
from django.contrib.auth.models import Group, User
from workflows.models import IngestToken
finance = Group.objects.get_or_create(name="finance")[0]
Group.objects.get_or_create(name="audit")
clerk = User.objects.create_user("fay", password="!")
clerk.groups.add(finance)
admin = User.objects.create_user("root-admin", password="!")
admin.groups.add(Group.objects.get(name="Admins"))  # the role, made by a migration
print(json.dumps({"token": IngestToken.issue("engine", scopes=["events:write", "read"])[1],
                  "clerk": session(clerk), "admin": session(admin)}))
"""
)

OUTBOX = """
import json
from workflows.models import OutboxCommand
print(json.dumps([
    {"id": str(c.command_id), "instance": str(c.instance_id), "kind": c.action or c.kind,
     "status": c.status, "attempts": c.attempts}
    for c in OutboxCommand.objects.order_by("pk")]))
"""

CSRF = "c" * 32  # any well-formed secret: the cookie and the header or field must agree


@dataclass
class Result:
    workflows: int
    down_seconds: float
    commands: int
    attempts_while_down: int  # delivery attempts the worker made against the closed port
    followers_attempted_while_down: int  # must be 0: a later command waits for the earlier
    dead: int  # only once a command's attempts ran out (``max_attempts``)
    delivered: int
    seconds_to_deliver_all_after_back: float
    answers_lost: int
    engine_received: int  # deliveries that reached the engine (resends included)
    engine_applied: int
    engine_duplicates: int  # resends the engine recognised and did not apply again
    applied_twice: int  # must be 0
    out_of_order: int  # must be 0
    engine_states: dict[str, int]
    max_attempts: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class Engine:
    """The example engine app under uvicorn in a thread; its handler's answers recorded."""

    def __init__(self, dashboard_url: str, token: str, secret: str, port: int) -> None:
        from examples.litestar_approval import create_app

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_app(dashboard_url, token, secret)
        # id, kind, instance, status, what it said, seconds the handler took
        self.handled: list[tuple[str, str, str, int, str, float]] = []
        commands = self.app.state.commands
        handle = commands.handle

        async def recording(headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
            started = time.perf_counter()
            status, body = await handle(headers, raw)
            took = time.perf_counter() - started
            try:
                sent = json.loads(raw)
                key = (str(sent["id"]), str(sent["kind"]), str(sent["instance_id"]))
            except (ValueError, KeyError, TypeError):
                key = ("?", "?", "?")
            self.handled.append((*key, status, str(body.get("status", "")), took))
            return status, body

        commands.handle = recording
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the engine app did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def start_workflow(self, amount: float) -> str:
        answer = httpx.post(
            f"{self.url}/expenses", json={"amount": amount, "requester": "dave"}, timeout=10
        )
        answer.raise_for_status()
        return str(answer.json()["instance_id"])

    def status(self, instance_id: str) -> str:
        return str(httpx.get(f"{self.url}/expenses/{instance_id}", timeout=10).json()["status"])


def run(
    *,
    workflows: int = 8,
    down: float = 20.0,
    backoff_base: float = 0.2,
    backoff_max: float = 2.0,
    max_attempts: int = 200,
    lost_answers: int = 3,
) -> Result:
    secret = secrets.token_hex(16)
    engine_port = free_port()
    proxy = Proxy(engine_port)
    tmp = tempfile.TemporaryDirectory(prefix="taskinbox-engine-down-")
    servers = Servers(Path(tmp.name), prefix="engine-down")
    engine: Engine | None = None
    try:
        servers.env.update(
            OUTBOX_EMBEDDED_WORKER="1",
            OUTBOX_WEBHOOK_URL=f"{proxy.url}/dashboard/commands",
            OUTBOX_WEBHOOK_SECRET=secret,
            OUTBOX_BACKOFF_BASE=str(backoff_base),
            OUTBOX_BACKOFF_MAX=str(backoff_max),
            OUTBOX_MAX_ATTEMPTS=str(max_attempts),
            OUTBOX_TIMEOUT="3",
            LOG_LEVEL="ERROR",
        )
        setup = json.loads(servers.setup(SETUP))
        dashboard = servers.start(setup["token"])
        engine = Engine(dashboard.url, setup["token"], secret, engine_port)
        engine.start()

        instances = [engine.start_workflow(100 + i) for i in range(workflows)]
        tasks = _wait_for_tasks(dashboard.url, setup["token"], instances)

        proxy.down()
        outage_started = time.monotonic()
        clerk = _Person(dashboard.url, setup["clerk"])
        admin = _Person(dashboard.url, setup["admin"])
        to_cancel = set(instances[: max(1, workflows // 4)])
        for instance in instances:
            task = tasks[instance]
            if instance in to_cancel:
                admin.api(
                    f"/api/tasks/{task}/reassign",
                    {"to_assignee": "group:audit", "reason": "audit first"},
                )
                admin.form(f"/workflows/{instance}/cancel/", {"reason": "duplicate request"})
            else:
                clerk.api(f"/api/tasks/{task}/claim", None)
                clerk.api(
                    f"/api/tasks/{task}/complete",
                    {"form_data": {"approved": True}, "comment": "ok"},
                )
        time.sleep(max(0.0, down - (time.monotonic() - outage_started)))
        during = json.loads(servers.setup(OUTBOX))

        proxy.lose_answers(lost_answers)
        proxy.up()
        back = time.monotonic()
        # Measured at the engine (in this process, every 0.1 s): when it has taken every
        # command people made; the dashboard's own record is read once it has.
        settled_in = _wait_until_applied(
            engine, {c["id"] for c in during}, back, 30 + 4 * backoff_max
        )
        after = _wait_until_settled(servers, len(during), timeout=60 + 4 * backoff_max)
        time.sleep(1.0)  # let the engine finish what the last commands started

        return _judge(
            workflows,
            down,
            during,
            after,
            settled_in,
            proxy,
            engine,
            instances,
            to_cancel,
            max_attempts,
        )
    finally:
        if engine is not None:
            engine.stop()
        proxy.close()
        servers.close()
        tmp.cleanup()


def _judge(
    workflows: int,
    down: float,
    during: list[dict[str, Any]],
    after: list[dict[str, Any]],
    settled_in: float,
    proxy: Proxy,
    engine: Engine,
    instances: list[str],
    to_cancel: set[str],
    max_attempts: int,
) -> Result:
    problems: list[str] = []
    # A command may be tried only once every earlier command of its instance is delivered or
    # dead (a dead command does not hold the later ones: docs/architecture.md, outbox).
    followers = 0
    blocking: dict[str, bool] = {}
    for c in during:
        if blocking.get(c["instance"]) and c["attempts"] > 0:
            followers += 1
        if c["status"] not in ("delivered", "dead"):
            blocking[c["instance"]] = True
    if len(during) != 2 * workflows:
        problems.append(f"{len(during)} commands recorded for {workflows} workflows, not 2 each")
    if any(c["status"] == "delivered" for c in during):
        problems.append("a command was delivered while the receiver was down")
    if followers:
        problems.append(f"{followers} later commands were tried before the earlier ones")
    dead = [c for c in after if c["status"] == "dead"]
    early = [c for c in dead if c["attempts"] < max_attempts]
    if early:
        problems.append(f"{len(early)} commands dead before their {max_attempts} attempts")
    delivered_ids = [c["id"] for c in after if c["status"] == "delivered"]
    delivered = len(delivered_ids)
    if delivered + len(dead) != len(during):
        problems.append(f"{delivered} of {len(during)} commands delivered, {len(dead)} dead")

    # "applied" (complete, cancel) or "acknowledged" (claim, reassign: the engine notes them).
    applied = [h for h in engine.handled if h[3] == 200 and h[4] in ("applied", "acknowledged")]
    duplicates = [h for h in engine.handled if h[3] == 200 and h[4] == "duplicate"]
    counts = collections.Counter(h[0] for h in applied)
    twice = sum(1 for n in counts.values() if n > 1)
    if twice:
        problems.append(f"{twice} commands applied twice by the engine")
    missing = set(delivered_ids) - set(counts)
    if missing:
        problems.append(f"{len(missing)} delivered commands never applied by the engine")
    dead_applied = {c["id"] for c in dead} & set(counts)
    if dead_applied:
        problems.append(f"{len(dead_applied)} dead commands were applied by the engine")
    refused = [h for h in engine.handled if h[3] != 200]
    if refused:
        problems.append(f"the engine refused {len(refused)}: {refused[:2]}")
    order: dict[str, list[str]] = collections.defaultdict(list)
    for h in applied:
        order[h[2]].append(h[0])
    expected: dict[str, list[str]] = collections.defaultdict(list)
    for c in during:
        if c["id"] in delivered_ids:
            expected[c["instance"]].append(c["id"])
    out_of_order = sum(1 for i in expected if order.get(i) != expected[i])
    if out_of_order:
        problems.append(f"{out_of_order} instances had their commands applied out of order")
    if delivered and proxy.lost_answers < 1:
        problems.append("no answer was lost: the resend path was not exercised")

    states = collections.Counter(engine.status(i).lower() for i in instances)
    finished = sum(n for s, n in states.items() if s.endswith("completed"))
    canceled = sum(
        n for s, n in states.items() if s.endswith("canceled") or s.endswith("cancelled")
    )
    if not dead and (finished != workflows - len(to_cancel) or canceled != len(to_cancel)):
        problems.append(f"engine states {dict(states)}: not what people did")
    return Result(
        workflows=workflows,
        down_seconds=down,
        commands=len(during),
        attempts_while_down=sum(c["attempts"] for c in during),
        followers_attempted_while_down=followers,
        dead=len(dead),
        delivered=delivered,
        seconds_to_deliver_all_after_back=round(settled_in, 2),
        answers_lost=proxy.lost_answers,
        engine_received=len(engine.handled),
        engine_applied=len(applied),
        engine_duplicates=len(duplicates),
        applied_twice=twice,
        out_of_order=out_of_order,
        engine_states=dict(states),
        max_attempts=max_attempts,
        problems=problems,
    )


def _wait_for_tasks(url: str, token: str, instances: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        page = httpx.get(f"{url}/api/tasks", params={"limit": 500}, headers=headers, timeout=10)
        page.raise_for_status()
        found = {str(t["instance_id"]): str(t["task_id"]) for t in page.json()["items"]}
        if all(i in found for i in instances):
            return {i: found[i] for i in instances}
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the engine's tasks did not arrive: {len(found)} of {len(instances)}"
            )
        time.sleep(0.2)


def _wait_until_applied(engine: Engine, ids: set[str], since: float, timeout: float) -> float:
    """Seconds from ``since`` until the engine applied all of ``ids`` (or the timeout ran out:
    then the judgement says what is missing)."""
    while time.monotonic() - since < timeout:
        taken = {h[0] for h in engine.handled if h[3] == 200}
        if ids <= taken:
            return time.monotonic() - since
        time.sleep(0.1)
    return time.monotonic() - since


def _wait_until_settled(servers: Servers, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        commands = json.loads(servers.setup(OUTBOX))
        if all(c["status"] in ("delivered", "dead") for c in commands) and len(commands) >= count:
            return commands
        if time.monotonic() > deadline:
            return commands
        time.sleep(0.5)


class _Person:
    def __init__(self, url: str, session: str) -> None:
        self.client = httpx.Client(
            base_url=url,
            cookies={"sessionid": session, "csrftoken": CSRF},
            headers={"Origin": url, "Referer": url + "/"},
            timeout=15,
        )

    def api(self, path: str, body: dict[str, Any] | None) -> None:
        answer = self.client.post(path, json=body or {}, headers={"X-CSRFToken": CSRF})
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")

    def form(self, path: str, data: dict[str, str]) -> None:
        answer = self.client.post(path, data={**data, "csrfmiddlewaretoken": CSRF})
        if answer.status_code not in (200, 302):
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=8)
    parser.add_argument("--down", type=float, default=20.0, help="seconds the receiver is down")
    parser.add_argument("--backoff-base", type=float, default=0.2)
    parser.add_argument("--backoff-max", type=float, default=2.0)
    parser.add_argument("--max-attempts", type=int, default=200)
    parser.add_argument("--lost-answers", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(
        workflows=args.workflows,
        down=args.down,
        backoff_base=args.backoff_base,
        backoff_max=args.backoff_max,
        max_attempts=args.max_attempts,
        lost_answers=args.lost_answers,
    )
    print_result(result, args.json, "OK: nothing lost, in order, nothing applied twice")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
