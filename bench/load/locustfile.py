"""The load test's people and engine, for Locust (run by ``bench/load/run.py``).

People (``Person``, one per load person ``p001`` ...; ``prepare.py`` creates them) sign in
through the login page, then, with a think time between clicks, look at My tasks and Team
queues, open tasks, complete them (the completion form as the page renders it from the
task's JSON Schema, filled as a person would: defaults kept, required fields answered),
reassign them to a team mate or to their team, and claim tasks from their team's queue. Like
a browser, every page they load opens its own live socket (``/ws/live/``, the session cookie
and the site's Origin) and sends what the page watches (``static/js/live.js``); the socket
of the page before is closed.

The engine (``Engine``, exactly one) streams ``demo.simulation.LiveFeed`` events, handed to
the load people (``population.Caster``), through ``POST /api/events`` with the ingest token,
``--load-rate`` events per second in all: a request every ``--load-batch`` / rate seconds
with the events due since the one before (``--load-batch`` while the answers come in time).

Live-update delay: an ingest that creates a task for a load person or a team, a claim (the
team mates' queues lose the row) and a reassignment (the new assignee is told, or their
team's queue gains the row) leave a mark: task id, time the request was sent, who sent it.
The first message naming that task on the socket of *someone else* ends the mark: its delay
(request sent to message received) is a sample. Completions leave none: a task of one's own
is on no one else's page. Marks not
ended within ``MARK_TIMEOUT`` seconds are counted as unseen (whoever would see it may have
been between two pages). The measurement starts when the last person has signed in (sign-in is
PBKDF2, ~0.3 s of CPU each, and belongs to the ramp): Locust's statistics and these samples
start again then, and the test ends ``--load-duration`` seconds later.

What Locust does not count itself (the delays, the outcomes of actions, the events sent) is
written as JSON to ``--load-results`` when the test stops.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import gevent
import lxml.html
import websocket
from locust import HttpUser, events, task
from locust.env import Environment

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import population  # noqa: E402

from demo.simulation import LiveFeed  # noqa: E402

MARK_TIMEOUT = 15.0
MAX_BATCH = 300  # the engine's largest request (well within INGEST_MAX_BODY_BYTES, 1 MiB)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TASK_LINK_RE = re.compile(r'href="/tasks/([0-9a-f-]{36})/"')
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LIVE_STATE_RE = re.compile(r'data-live-state="([^"]*)"')


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--load-people", type=int, default=200, help="load people prepared")
    parser.add_argument("--load-token", default="", help="the engine's ingest token")
    parser.add_argument("--load-rate", type=float, default=100.0, help="engine events/s")
    parser.add_argument("--load-batch", type=int, default=10, help="events per request")
    parser.add_argument("--load-think", default="4,12", help="think time range, seconds")
    parser.add_argument("--load-duration", type=float, default=120, help="measured seconds")
    parser.add_argument("--load-results", default="", help="JSON file written at the end")
    parser.add_argument("--load-sent", default="", help="file of the sent events' ids")


class Live:
    """The marks and the delay samples (one process: every greenlet shares them)."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[float, str, str]] = {}
        self.reset()

    def reset(self) -> None:
        self.delays: dict[str, list[float]] = {"ingest": [], "claim": [], "reassign": []}
        self.unseen: Counter[str] = Counter()
        self.marked: Counter[str] = Counter()

    def mark(self, task_id: str, actor: str, kind: str) -> None:
        self.pending[task_id] = (time.perf_counter(), actor, kind)
        self.marked[kind] += 1

    def observe(self, message: str, username: str) -> None:
        now = time.perf_counter()
        for task_id in UUID_RE.findall(message):
            entry = self.pending.get(task_id)
            if entry is not None and entry[1] != username:
                del self.pending[task_id]
                self.delays[entry[2]].append(now - entry[0])

    def expire(self) -> None:
        limit = time.perf_counter() - MARK_TIMEOUT
        for task_id, (sent, _, kind) in list(self.pending.items()):
            if sent < limit:
                del self.pending[task_id]
                self.unseen[kind] += 1


LIVE = Live()
OUTCOMES: Counter[str] = Counter()
SENT: dict[str, Any] = {"events": 0, "accepted": 0, "duplicates": 0, "requests": 0}
SENT_MEASURED = {"events": 0, "requests": 0}  # since the measurement started
SENT_IDS: list[tuple[str, str, str | None]] = []  # event id, instance id, task id if created
PEOPLE = itertools.count()
# Open sockets, and once all are spawned their range and mean (sampled every second).
SOCKETS: dict[str, Any] = {"open": 0, "min": None, "max": 0, "sum": 0, "samples": 0}
MEASURING: dict[str, Any] = {"on": False}
SIGNED_IN = {"n": 0}


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"n": len(ordered), "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def _signed_in(environment: Environment) -> None:
    """One more person signed in; with the last one the measurement starts (Locust's
    statistics and ours begin again) and lasts ``--load-duration`` seconds."""
    SIGNED_IN["n"] += 1
    options = environment.parsed_options
    if SIGNED_IN["n"] != options.load_people:
        return
    environment.stats.reset_all()
    LIVE.reset()
    OUTCOMES.clear()
    SENT_MEASURED.update(events=0, requests=0)
    OUTCOMES["people signed in at the start of the measurement"] = SIGNED_IN["n"]
    MEASURING["on"] = True
    MEASURING["since"] = time.time()
    SOCKETS.update(min=SOCKETS["open"], max=SOCKETS["open"], sum=0, samples=0)
    if options.load_results:
        Path(options.load_results + ".started").write_text(str(MEASURING["since"]))

    def end() -> None:
        gevent.sleep(options.load_duration)
        MEASURING["seconds"] = time.time() - MEASURING["since"]
        assert environment.runner is not None
        environment.runner.quit()

    gevent.spawn(end)


@events.test_start.add_listener
def _expirer(environment: Environment, **_: Any) -> None:
    def loop() -> None:
        while True:
            gevent.sleep(1)
            LIVE.expire()
            if MEASURING["on"]:
                SOCKETS["min"] = min(SOCKETS["min"], SOCKETS["open"])
                SOCKETS["max"] = max(SOCKETS["max"], SOCKETS["open"])
                SOCKETS["sum"] += SOCKETS["open"]
                SOCKETS["samples"] += 1

    gevent.spawn(loop)


@events.test_stop.add_listener
def _write_results(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    LIVE.expire()
    results = {
        "measured": MEASURING["on"],
        "measured_seconds": round(MEASURING.get("seconds", 0.0), 1),
        "signed_in": SIGNED_IN["n"],
        "live_delay": {kind: _percentiles(v) for kind, v in LIVE.delays.items()},
        "marks": dict(LIVE.marked),
        "unseen": dict(LIVE.unseen),
        "still_pending": len(LIVE.pending),
        "outcomes": dict(OUTCOMES),
        "engine": dict(SENT),
        "engine_measured": dict(SENT_MEASURED),
        "sockets_open": {
            "min": SOCKETS["min"],
            "mean": round(SOCKETS["sum"] / max(1, SOCKETS["samples"]), 1),
            "max": SOCKETS["max"],
            "end": SOCKETS["open"],
        },
    }
    if options.load_results:
        Path(options.load_results).write_text(json.dumps(results, indent=2))
    if options.load_sent:
        Path(options.load_sent).write_text(json.dumps(SENT_IDS))


def form_errors(html: str) -> str:
    """What a refused form says (its error lists), for the failure's message."""
    try:
        found = lxml.html.fromstring(html).xpath("//ul[contains(@class, 'errorlist')]//text()")
    except Exception:
        return html[:200]
    return "; ".join(t.strip() for t in found if t.strip())[:300] or html[:200]


def _fire(environment: Environment, kind: str, name: str, started: float, exc: Any) -> None:
    environment.events.request.fire(
        request_type=kind,
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=0,
        exception=exc,
        context={},
    )


class Person(HttpUser):
    """One person at a browser (see the module docstring)."""

    def wait_time(self) -> float:
        low, high = (float(x) for x in self.environment.parsed_options.load_think.split(","))
        return random.uniform(low, high)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        index = next(PEOPLE)
        if index >= options.load_people:
            raise RuntimeError(
                f"more people spawned than prepared ({options.load_people}): "
                "-u must be --load-people + 1 (the engine)"
            )
        self.username = population.username(index)
        self.team = population.team_of(index)
        self.mates = [
            m for m in population.members(options.load_people, self.team) if m != self.username
        ]
        self.mine: list[str] = []
        self.queue: list[str] = []
        self.ws: websocket.WebSocket | None = None
        self.generation = 0  # pages loaded: which socket is the current page's
        self.sign_in()

    def on_stop(self) -> None:
        self.close_socket()

    # --- pages and sockets -----------------------------------------------------------------

    def sign_in(self) -> None:
        page = self.client.get("/accounts/login/", name="sign-in page")
        token = CSRF_RE.search(page.text)
        with self.client.post(
            "/accounts/login/",
            data={
                "username": self.username,
                "password": population.PASSWORD,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            name="POST sign in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}, not a redirect")
                raise RuntimeError(f"{self.username} could not sign in")
        self.my_tasks()
        _signed_in(self.environment)

    def page(self, url: str, name: str, watch: dict[str, Any] | None) -> str:
        with self.client.get(url, name=name, catch_response=True) as response:
            if response.status_code == 404 and name == "task page":
                # A task from a list read a moment ago, since reassigned out of this
                # person's sight: the 404 a person would see too.
                response.success()
                OUTCOMES["task out of sight when opened (404)"] += 1
                return ""
            if response.status_code != 200:
                # Status 0: no answer (response.error says why: refused, reset, timed out).
                response.failure(f"{response.status_code} {response.error or ''}".strip())
                return ""
            text = response.text
        if watch is not None:
            self.open_socket(watch)
        return text

    def open_socket(self, watch: dict[str, Any]) -> None:
        """The page's socket, opened beside the page as a browser does: the person does not
        wait for it. A socket whose page was left before it opened is closed at once."""
        self.close_socket()
        gevent.spawn(self.connect, watch, self.generation)

    def connect(self, watch: dict[str, Any], generation: int) -> None:
        host = self.host or ""
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.client.cookies)
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                host.replace("http", "ws", 1) + "/ws/live/",
                header=[f"Cookie: {cookie}"],
                origin=host,
                timeout=30,
            )
            ws.settimeout(None)
            ws.send(json.dumps(watch))
        except Exception as exc:
            _fire(self.environment, "WS", "live socket: connect", started, exc)
            return
        _fire(self.environment, "WS", "live socket: connect", started, None)
        SOCKETS["open"] += 1
        if generation != self.generation:  # the page was left meanwhile
            OUTCOMES["socket opened after its page was left"] += 1
            self.ws = ws
            self.close_socket()
        else:
            self.ws = ws
        self.read(ws)

    def read(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                opcode, data = ws.recv_data()
            except Exception:
                opcode, data = websocket.ABNF.OPCODE_CLOSE, b""
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                if ws is self.ws:  # not closed by us: the server ended it
                    _fire(
                        self.environment,
                        "WS",
                        "live socket: closed by the server",
                        time.perf_counter(),
                        RuntimeError(f"closed by the server ({data[:2].hex()})"),
                    )
                    self.ws = None
                ws.shutdown()
                SOCKETS["open"] -= 1
                return
            if opcode == websocket.ABNF.OPCODE_TEXT:
                OUTCOMES["socket messages"] += 1
                LIVE.observe(data.decode(), self.username)

    def close_socket(self) -> None:
        self.generation += 1  # a socket still connecting belongs to a page left
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                ws.send_close(status=1001)  # "going away": a page left
            except Exception:
                ws.shutdown()
                return
            gevent.spawn_later(5, ws.shutdown)  # the reader ends on the server's close

    def csrf(self) -> str:
        return str(self.client.cookies.get("csrftoken", ""))

    # --- what people do --------------------------------------------------------------------

    @task(3)
    def my_tasks(self) -> None:
        html = self.page("/", "My tasks", {"watch": "list", "mode": "mine", "query": ""})
        self.mine = list(dict.fromkeys(TASK_LINK_RE.findall(html)))

    @task(2)
    def team_queues(self) -> None:
        html = self.page("/queues/", "Team queues", {"watch": "list", "mode": "queue", "query": ""})
        self.queue = list(dict.fromkeys(TASK_LINK_RE.findall(html)))

    def task_page(self, task_id: str, query: str = "") -> str:
        html = self.page(f"/tasks/{task_id}/{query}", "task page", None)
        state = LIVE_STATE_RE.search(html)
        self.open_socket(
            {"watch": "task", "id": task_id, "state": state.group(1) if state else "", "query": ""}
        )
        return html

    @task(4)
    def work_on_a_task(self) -> None:
        if not self.mine:
            self.my_tasks()
            if not self.mine:
                OUTCOMES["nothing in My tasks"] += 1
                return
        task_id = self.mine.pop(random.randrange(len(self.mine)))
        html = self.task_page(task_id)
        if f'action="/tasks/{task_id}/complete/"' not in html:
            OUTCOMES["task no longer mine when opened"] += 1
            return
        if random.random() < 0.75:
            self.complete(task_id, html)
        else:
            self.reassign(task_id)

    @task(2)
    def claim_from_the_queue(self) -> None:
        if not self.queue:
            self.team_queues()
            if not self.queue:
                OUTCOMES["team queue empty"] += 1
                return
        task_id = self.queue.pop(random.randrange(len(self.queue)))
        html = self.task_page(task_id)
        if f'action="/tasks/{task_id}/claim/"' not in html:
            OUTCOMES["task no longer in the queue when opened"] += 1
            return
        LIVE.mark(task_id, self.username, "claim")
        with self.client.post(
            f"/tasks/{task_id}/claim/",
            data={"csrfmiddlewaretoken": self.csrf()},
            name="POST claim",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 404:
                # A team mate claimed it first: it is theirs, out of this person's sight.
                response.success()
                OUTCOMES["claim conflict (404: a team mate's now)"] += 1
                return
            if response.status_code != 302:
                response.failure(f"{response.status_code}")
                return
        after = self.task_page(task_id)
        OUTCOMES["claimed" if "is yours now" in after else "claim conflict"] += 1

    def complete(self, task_id: str, html: str) -> None:
        data = self.fill_completion(task_id, html)
        if data is None:
            OUTCOMES["completion form missing"] += 1
            return
        with self.client.post(
            f"/tasks/{task_id}/complete/",
            data=data,
            name="POST complete",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 404:
                # Reassigned or claimed out of this person's sight since the page was read.
                response.success()
                OUTCOMES["completion: task out of sight (404)"] += 1
                return
            if response.status_code == 409:
                # The workflow is paused or ended: the page says so; not a fault.
                response.success()
                OUTCOMES["completion refused: workflow not active"] += 1
                return
            if response.status_code != 302:
                response.failure(f"{response.status_code}: {form_errors(response.text)}")
                return
            location = response.headers.get("Location", "")
        if location.endswith("?completed=1"):
            OUTCOMES["completed"] += 1
            self.task_page(task_id, "?completed=1")
        else:
            OUTCOMES["completion conflict"] += 1
            self.task_page(task_id)

    def fill_completion(self, task_id: str, html: str) -> dict[str, Any] | None:
        """The completion form's values as a browser would post them, each required field
        that is still empty answered (the first choice, the minimum, today, some text)."""
        doc = lxml.html.fromstring(html)
        forms = [f for f in doc.forms if (f.action or "").endswith(f"/tasks/{task_id}/complete/")]
        if not forms:
            return None
        form = forms[0]
        data: dict[str, Any] = dict(form.form_values())
        for field in form.inputs:
            name = field.get("name")
            # A textarea's value starts with the newline after its tag, which browsers drop.
            if field.tag == "textarea" and name in data:
                data[name] = str(data[name]).removeprefix("\n")
            if not name or str(data.get(name) or "").strip() or field.get("required") is None:
                continue
            kind = (field.get("type") or "").lower()
            if field.tag == "select":
                data[name] = next(v for v in field.value_options if v)
            elif kind == "radio":
                data[name] = field.get("value")
            elif kind == "number":
                low, high = field.get("min"), field.get("max")
                value = float(low) if low is not None else 1.0
                if high is not None:
                    value = min(value, float(high))
                data[name] = str(int(value)) if value.is_integer() else str(value)
            elif kind == "date":
                data[name] = date.today().isoformat()
            elif kind == "email":
                data[name] = f"{self.username}@example.com"
            elif kind != "checkbox":
                text = "Checked during the load test"
                low = int(field.get("minlength") or 0)
                high = int(field.get("maxlength") or 10_000)
                data[name] = (text * (1 + low // len(text)))[: max(low, min(len(text), high))]
        data["comment"] = "Done (load test)."
        return data

    def reassign(self, task_id: str) -> None:
        to = self.team if random.random() < 0.2 or not self.mates else random.choice(self.mates)
        LIVE.mark(task_id, self.username, "reassign")
        with self.client.post(
            f"/tasks/{task_id}/reassign/",
            data={
                "csrfmiddlewaretoken": self.csrf(),
                "to_assignee": to,
                "reason": "Balancing the work (load test).",
            },
            name="POST reassign",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 404:
                response.success()
                OUTCOMES["reassign: task out of sight (404)"] += 1
                return
            if response.status_code != 302:
                response.failure(f"{response.status_code}: {form_errors(response.text)}")
                return
            location = response.headers.get("Location", "")
        if location == "/":
            OUTCOMES["reassigned"] += 1
            self.my_tasks()
        else:
            OUTCOMES["reassign conflict"] += 1
            self.task_page(task_id)


class Engine(HttpUser):
    """The workflow engine: a steady stream of events (see the module docstring)."""

    fixed_count = 1

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return options.load_batch / options.load_rate

    def on_start(self) -> None:
        options = self.environment.parsed_options
        if not options.load_token:
            raise RuntimeError("--load-token is required (the engine's ingest token)")
        self.feed = LiveFeed(seed=random.randrange(2**31), in_flight=40)
        self.caster = population.Caster(options.load_people)
        self.headers = {"Authorization": f"Bearer {options.load_token}"}
        self.known = {population.username(i) for i in range(options.load_people)}
        self.known.update(population.TEAMS)

    @task
    def send(self) -> None:
        # What is due since the last request at the steady rate: --load-batch events when
        # answers come in time, more in one request when they do not (an engine's outbox
        # sends what has piled up), so the rate holds while the server keeps up at all.
        options = self.environment.parsed_options
        now = time.monotonic()
        last = getattr(self, "last", now - options.load_batch / options.load_rate)
        due = getattr(self, "owed", 0.0) + (now - last) * options.load_rate
        count = max(1, min(int(due), MAX_BATCH))
        self.last, self.owed = now, due - count
        batch = [self.caster.cast(e) for e in self.feed.take(count)]
        for event in batch:
            if event["type"] == "HumanTaskCreated":
                assignee = str(event.get("assignee", "")).split(":", 1)[-1]
                if assignee in self.known:
                    LIVE.mark(event["task_id"], "engine", "ingest")
        with self.client.post(
            "/api/events",
            json=batch,
            headers=self.headers,
            name="POST /api/events",
            catch_response=True,
        ) as response:
            SENT["requests"] += 1
            SENT["events"] += len(batch)
            SENT_MEASURED["requests"] += 1
            SENT_MEASURED["events"] += len(batch)
            for event in batch:
                created = event["task_id"] if event["type"] == "HumanTaskCreated" else None
                SENT_IDS.append((event["event_id"], event["instance_id"], created))
            if response.status_code not in (200, 201):
                response.failure(f"{response.status_code}: {response.text[:300]}")
                return
            body = response.json()
            SENT["accepted"] += body["accepted"]
            SENT["duplicates"] += body["duplicates"]
