"""Ingest benchmark: events per second through ``POST /api/events`` on SQLite.

Measures, in one run and on the same simulated events:

1. raw insert: ``Event.objects.bulk_create`` of the events into the log alone, in batches
   of 100, one transaction each (the limit: no validation, dedupe or projections);
2. HTTP, batches of 100 events per request, with the live broadcast (as deployed) and
   with its receiver disconnected (``bench/asgi_no_broadcast.py``);
3. HTTP, one event per request, the same two ways, one request after the other;
4. HTTP, one event per request from ``--concurrency`` connections at once (8), each its own
   share of the instances (an instance's events go through one connection, in order), as
   an engine with several workers sends them; broadcast on, with the group commit of
   concurrent requests (``workflows/group_commit.py``) on and off (INGEST_GROUP_COMMIT);
5. in-process: ``ingest_events`` called directly (no HTTP), batches and single events,
   with and without the broadcast receiver.

Each measurement gets its own fresh copy of one migrated SQLite file (with the demo users,
so assignees resolve as they would in use). HTTP goes to a real uvicorn server on
127.0.0.1, started here as a subprocess with DEBUG off, over keep-alive connections.
The targets are checked on the deployed configuration (broadcast on, group commit on);
single events on the concurrent figure.

    .venv/bin/python bench/ingest.py [--workflows 1800] [--single 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.server import free_port, stop, uvicorn_command, wait_until_up  # noqa: E402

PYTHON = sys.executable
BATCH = 100


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def server_env(db: Path, **extra: str) -> dict[str, str]:
    return {
        **extra,
        **os.environ,
        "DATABASE_URL": sqlite_url(db),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-not-secret-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
    }


def manage(db: Path, *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=server_env(db),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def prepare_template(workdir: Path) -> tuple[Path, str]:
    """A migrated database with the demo users and an ingest token."""
    template = workdir / "template.sqlite3"
    manage(template, "migrate", "--noinput")
    manage(template, "seed_demo")
    token = manage(template, "create_ingest_token", "bench").strip()
    # Each command closed its connection, so SQLite folded the WAL into the file: a plain
    # copy carries everything.
    return template, token


def fresh_copy(template: Path, name: str) -> Path:
    target = template.with_name(name)
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


def generate_events(workflows: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from demo.simulation import generate

    return generate(workflows=workflows, seed=seed, now=now).events


DEPLOYED_APP = "config.asgi:application"
QUIET_APP = "bench.asgi_no_broadcast:application"  # the same, broadcast receiver disconnected


@contextmanager
def server(db: Path, port: int, app: str = DEPLOYED_APP, **env: str) -> Iterator[str]:
    """uvicorn serving ``app`` on 127.0.0.1:port, stopped on exit; ``env`` for its settings."""
    options = ("--lifespan", "off", "--no-access-log", "--log-level", "warning")
    proc = subprocess.Popen(
        uvicorn_command(port, *options, app=app), cwd=ROOT, env={**server_env(db), **env}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/api/openapi.json", proc, timeout=30)
        yield base
    finally:
        stop(proc, timeout=10)


def post_all(base: str, token: str, bodies: Sequence[bytes], warmup: int) -> tuple[float, int, int]:
    """POST each body in turn on one keep-alive connection; time all but the warm-up."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = duplicates = 0
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        started = 0.0
        for i, body in enumerate(bodies):
            if i == warmup:
                started = time.perf_counter()
            response = client.post("/api/events", content=body)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
            result = response.json()
            if i >= warmup:
                accepted += result["accepted"]
                duplicates += result["duplicates"]
        return time.perf_counter() - started, accepted, duplicates


def post_concurrently(
    base: str, token: str, events: Sequence[dict[str, Any]], connections: int, warmup: int
) -> tuple[float, int, int]:
    """One event per request from ``connections`` clients at once, each with its share of
    the instances, in order; each sends its first ``warmup`` events before the clock starts."""
    shares: list[list[bytes]] = [[] for _ in range(connections)]
    for event in events:
        shares[uuid.UUID(event["instance_id"]).int % connections].append(json.dumps(event).encode())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = threading.Barrier(connections + 1)
    counts: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def send(bodies: list[bytes]) -> None:
        accepted = duplicates = 0
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for i, body in enumerate(bodies):
                    if i == min(warmup, len(bodies)):
                        start.wait()
                    response = client.post("/api/events", content=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
                    if i >= warmup:
                        result = response.json()
                        accepted += result["accepted"]
                        duplicates += result["duplicates"]
                if len(bodies) <= warmup:
                    start.wait()
        except BaseException as exc:
            failures.append(exc)
            start.abort()
        counts.append((accepted, duplicates))

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return seconds, sum(a for a, _ in counts), sum(d for _, d in counts)


def raw_insert(db: Path, events: list[dict[str, Any]]) -> float:
    """Seconds to bulk_create the events into the log, 100 per transaction (in a child)."""
    code = f"""
import json, sys, time
import django
django.setup()
from django.db import transaction
from workflows.wire import parse_event
from workflows.models import Event

events = json.load(sys.stdin)
rows = []
for obj in events:
    p = parse_event(obj)
    rows.append(Event(event_id=p.event_id, event_id_given=p.event_id_given, type=p.type,
        instance_id=p.event.instance_id, task_id=getattr(p.event, "task_id", None),
        timestamp=p.event.timestamp, payload=p.payload(), source="token:bench"))
started = time.perf_counter()
for i in range(0, len(rows), {BATCH}):
    with transaction.atomic():
        Event.objects.bulk_create(rows[i : i + {BATCH}])
print(time.perf_counter() - started)
"""
    done = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env=server_env(db),
        input=json.dumps(events),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def in_process(
    db: Path, batches: list[list[dict[str, Any]]], warmup: int, broadcast: bool
) -> float:
    """Events per second of ``ingest_events`` called directly (in a child process)."""
    code = f"""
import json, sys, time
import django
django.setup()
from workflows.ingest import ingest_events, events_ingested
if not {broadcast!r}:
    events_ingested.disconnect(dispatch_uid="live.broadcast")
    assert not events_ingested.receivers
batches = json.load(sys.stdin)
for batch in batches[:{warmup}]:
    ingest_events(events=batch, source="token:bench")
started = time.perf_counter()
for batch in batches[{warmup}:]:
    ingest_events(events=batch, source="token:bench")
print(time.perf_counter() - started)
"""
    done = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env=server_env(db),
        input=json.dumps(batches),
        check=True,
        capture_output=True,
        text=True,
    )
    timed = sum(len(b) for b in batches[warmup:])
    return timed / float(done.stdout.strip().splitlines()[-1])


def count_rows(db: Path) -> dict[str, int]:
    out = manage(
        db,
        "shell",
        "-c",
        "import json; from workflows.models import Event, HumanTask; "
        "from workflows.models import WorkflowInstance as W; "
        "print(json.dumps({'events': Event.objects.count(), 'instances': W.objects.count(), "
        "'tasks': HumanTask.objects.count()}))",
    )
    return json.loads(out.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=1800, help="Simulated workflows.")
    parser.add_argument("--single", type=int, default=3000, help="Events sent one per request.")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="Connections sending single events at once."
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        help="The simulation's 'now' (ISO 8601), so every run sends the same events.",
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    events = generate_events(args.workflows, args.seed, args.now)
    warmup_batches = 5
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.python_version()} · "
        f"{os.cpu_count()} cores · {platform.machine()} · load {_load()} · "
        f"{len(events)} events from {args.workflows} simulated workflows"
    )
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    bodies = [json.dumps(b).encode() for b in batches]
    singles = events[: args.single + 50]
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as tmp:
        template, token = prepare_template(Path(tmp))

        raw_seconds = raw_insert(fresh_copy(template, "raw.sqlite3"), events)
        raw_rate = len(events) / raw_seconds
        print(f"raw bulk_create, {BATCH}/transaction:        {raw_rate:>9,.0f} events/s")

        for label, app in (("broadcast on ", DEPLOYED_APP), ("broadcast off", QUIET_APP)):
            batch_db = fresh_copy(template, "batch.sqlite3")
            with server(batch_db, free_port(args.port), app) as base:
                seconds, accepted, dupes = post_all(base, token, bodies, warmup_batches)
            timed = sum(len(b) for b in batches[warmup_batches:])
            rate = rates[f"batch {label}"] = timed / seconds
            assert accepted == timed and dupes == 0, (accepted, dupes, timed)
            rows = count_rows(batch_db)
            assert rows["events"] == len(events) and rows["instances"] == args.workflows, rows
            print(
                f"HTTP, batches of {BATCH}, {label}:    {rate:>9,.0f} events/s "
                f"({rate / raw_rate:.0%} of raw; {rows['tasks']} tasks projected)"
            )
            batch_db.unlink()

        for label, app in (("broadcast on ", DEPLOYED_APP), ("broadcast off", QUIET_APP)):
            single_db = fresh_copy(template, "single.sqlite3")
            with server(single_db, free_port(args.port), app) as base:
                seconds, accepted, dupes = post_all(
                    base, token, [json.dumps(e).encode() for e in singles], 50
                )
            rate = rates[f"single {label}"] = accepted / seconds
            assert accepted == len(singles) - 50 and dupes == 0, (accepted, dupes)
            print(f"HTTP, one event per request, {label}: {rate:>9,.0f} events/s")
            single_db.unlink()

        warm = 50 // args.concurrency + 1  # per connection, about the sequential 50 in all
        for label, grouping in (("group commit on ", "true"), ("group commit off", "false")):
            single_db = fresh_copy(template, "concurrent.sqlite3")
            with server(
                single_db, free_port(args.port), DEPLOYED_APP, INGEST_GROUP_COMMIT=grouping
            ) as base:
                seconds, accepted, dupes = post_concurrently(
                    base, token, singles, args.concurrency, warm
                )
            rate = rates[f"concurrent {label}"] = accepted / seconds
            assert dupes == 0 and accepted >= len(singles) - warm * args.concurrency, accepted
            rows = count_rows(single_db)
            assert rows["events"] == len(singles), rows
            print(
                f"HTTP, one event per request, {args.concurrency} connections, broadcast on, "
                f"{label}: {rate:>9,.0f} events/s"
            )
            single_db.unlink()

        for label, on in (("broadcast on ", True), ("broadcast off", False)):
            rate = in_process(fresh_copy(template, "inproc.sqlite3"), batches, warmup_batches, on)
            print(f"in-process, batches of {BATCH}, {label}: {rate:>9,.0f} events/s")
            rate = in_process(
                fresh_copy(template, "inproc1.sqlite3"), [[e] for e in singles], 50, on
            )
            print(f"in-process, one event per call, {label}: {rate:>9,.0f} events/s")
    print(f"load average at the end: {_load()}")

    batch_rate, single_rate = rates["batch broadcast on "], rates["concurrent group commit on "]
    grouped = single_rate / rates["concurrent group commit off"]
    print(f"group commit on / off, {args.concurrency} connections: {grouped:.2f}")
    targets = [
        ("batches of 100 >= 35 % of raw insert", batch_rate >= raw_rate * 0.35),
        (f"single events >= 500 events/s ({args.concurrency} connections)", single_rate >= 500),
    ]
    for label, ok in targets:
        print(f"  {'met ' if ok else 'MISSED'}  {label} (broadcast on)")
    return 0 if all(ok for _, ok in targets) else 1


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
