"""Outbox benchmark: commands delivered per second, and commit → receipt delay.

In one process, on a fresh migrated SQLite file (WAL, as `make run` uses), with a signed
webhook receiver (``http.server`` on 127.0.0.1, verifying each request with the engine-side
adapter's ``DashboardCommands.verify``):

1. throughput: ``--commands`` completions recorded with the backend off, then drained by
   ``deliver_due`` (one worker, one keep-alive connection): commands per second;
2. latency: ``--actions`` completions, one at a time with a pause between them (the worker
   idle), each delivered by the attempt right after its commit; the delay from the commit
   (when ``deliver_soon`` is called) to the receiver's receipt, p50 / p95 / max.

    .venv/bin/python bench/outbox.py [--commands 1000] [--actions 200] [--no-nodelay]

``--no-nodelay``: the receiver without TCP_NODELAY (what bench/README.md says it costs).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.receiver import CommandReceiver  # noqa: E402

SECRET = "bench-secret"


def setup(db: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["OUTBOX_BACKEND"] = "none"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_tasks(n: int) -> list[Any]:
    from django.contrib.auth.models import User

    from workflows.ingest import ingest_events
    from workflows.models import HumanTask

    User.objects.get_or_create(username="bench")
    now = datetime.now(UTC).isoformat()
    ids = []
    for start in range(0, n, 100):
        events = []
        for _ in range(min(100, n - start)):
            iid, tid = str(uuid.uuid4()), str(uuid.uuid4())
            ids.append(tid)
            events += [
                {"type": "WorkflowStarted", "event_id": str(uuid.uuid4()), "instance_id": iid,
                 "timestamp": now, "workflow_name": "bench", "workflow_version": "1"},
                {"type": "HumanTaskCreated", "event_id": str(uuid.uuid4()), "instance_id": iid,
                 "timestamp": now, "step_name": "approve", "task_id": tid,
                 "assignee": "user:bench", "title": "Bench"},
            ]  # fmt: skip
        ingest_events(events=events, source="bench")
    return list(HumanTask.objects.filter(task_id__in=ids).select_related("assignee_user"))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between actions")
    parser.add_argument("--no-nodelay", action="store_true", help="receiver without TCP_NODELAY")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        setup(Path(tmp) / "bench.sqlite3")
        from django.conf import settings
        from django.contrib.auth.models import User

        from workflows import actions, outbox
        from workflows.models import OutboxCommand

        logging.getLogger("httpx").setLevel(logging.WARNING)
        receiver = CommandReceiver(SECRET, nodelay=not args.no_nodelay)
        user = User.objects.get_or_create(username="bench")[0]
        settings.OUTBOX_WEBHOOK_URL = receiver.url
        settings.OUTBOX_WEBHOOK_SECRET = SECRET

        # 1. throughput
        tasks = make_tasks(args.commands + args.actions)
        for task in tasks[: args.commands]:
            actions.complete_task(task=task, user=user, form_data=None)
        settings.OUTBOX_BACKEND = "webhook"
        t0 = time.perf_counter()
        drained = 0
        while done := outbox.deliver_due(limit=500):
            drained += done
        elapsed = time.perf_counter() - t0
        delivered = OutboxCommand.objects.filter(status="delivered").count()
        assert delivered == drained == args.commands == len(receiver.received), (
            delivered,
            drained,
            len(receiver.received),
        )

        # 2. commit → receipt, the worker idle
        committed: dict[Any, float] = {}  # instance id -> commit time (one action each)
        real = outbox.deliver_soon

        def stamped(instance_id: Any) -> None:
            committed[instance_id] = time.perf_counter()
            real(instance_id)

        outbox.deliver_soon = stamped  # record_action's on_commit looks it up at call time
        for task in tasks[args.commands :]:
            actions.complete_task(task=task, user=user, form_data=None)
            time.sleep(args.pause)
        deadline = time.time() + 10
        while len(receiver.received) < args.commands + args.actions and time.time() < deadline:
            time.sleep(0.01)
        ids = dict(
            OutboxCommand.objects.filter(instance_id__in=committed).values_list(
                "instance_id", "command_id"
            )
        )
        delays = [
            (receiver.received_at[str(ids[iid])] - at) * 1000
            for iid, at in committed.items()
            if str(ids[iid]) in receiver.received_at
        ]

        nodelay = "without" if args.no_nodelay else "with"
        print(
            f"python {sys.version.split()[0]}, SQLite (WAL file), "
            f"receiver on 127.0.0.1 {nodelay} TCP_NODELAY"
        )
        print(
            f"throughput: {args.commands} commands in {elapsed:.2f} s = "
            f"{args.commands / elapsed:,.0f} commands/s (one worker, deliver_due)"
        )
        print(
            f"commit -> receipt ({len(delays)}/{args.actions} delivered, worker idle): "
            f"p50 {statistics.median(delays):.1f} ms, p95 {pct(delays, 95):.1f} ms, "
            f"max {max(delays):.1f} ms"
        )
        print(f"refused signatures: {len(receiver.refused)}")
        ok = len(delays) == args.actions and pct(delays, 95) < 100
        print("target p95 < 100 ms:", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
