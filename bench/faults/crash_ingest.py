"""kill -9 of the server in the middle of a stream of ingest batches, several times; the engine
sends again every batch it has no answer for; then every event must be stored exactly once
and ``rebuild_projections`` must give exactly the projections ingest built incrementally.

    .venv/bin/python bench/faults/crash_ingest.py                      # PostgreSQL of its own
    .venv/bin/python bench/faults/crash_ingest.py --database sqlite
    .venv/bin/python bench/faults/crash_ingest.py --workflows 300 --kills 5 --json

Only 127.0.0.1: PostgreSQL is a server of the scenario's own on a spare port
(tests/support/pgcluster.py), SQLite a file in a temporary directory. The events are the
simulator's (``demo.simulation.generate``: all thirteen types, in timestamp order, so each
batch of 100 touches many instances), sent in batches of ``--batch`` one after the other on
a keep-alive connection, as an engine streams them. The server (one uvicorn, as ``make
serve``) is killed with SIGKILL after a random 0.1 to 0.6 s of streaming, ``--kills`` times,
and started again; a batch whose answer did not arrive is sent again (the engine's
at-least-once). Each kill lands while batches are being written: the one in flight is
either committed or not, never half-stored.

Exit status 0 when every event is stored once and the rebuild equals the incremental
projections, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.pgcluster import Cluster  # noqa: E402
from tests.support.server import Server, free_port, last_line, manage, print_result  # noqa: E402

TOKEN = """
import json
from demo.users import ensure_demo_users
from workflows.models import IngestToken
ensure_demo_users()
print(json.dumps({"token": IngestToken.issue("crash")[1]}))
"""

# Every projection row by its natural key, without surrogate ids, write times and version
# counters (as tests/support/commands.snapshot), hashed so the two states compare cheaply.
SNAPSHOT = """
import hashlib, json
from django.db.models import Count
from workflows.models import Event, HumanTask, StepRun, WorkflowInstance
def rows(model, key):
    out = []
    for row in model.objects.values():
        for volatile in ("id", "updated_at", "version"):
            row.pop(volatile, None)
        out.append(json.dumps(row, sort_keys=True, default=str))
    out.sort()
    return {"count": len(out), "sha256": hashlib.sha256("\\n".join(out).encode()).hexdigest()}
dupes = Event.objects.values("event_id").annotate(n=Count("seq")).filter(n__gt=1).count()
print(json.dumps({
    "events": Event.objects.count(), "duplicates": dupes,
    "event_ids": sorted(str(e) for e in Event.objects.values_list("event_id", flat=True)),
    "instances": rows(WorkflowInstance, ("instance_id",)),
    "steps": rows(StepRun, ("instance_id", "step_name", "attempt")),
    "tasks": rows(HumanTask, ("task_id",)),
}))
"""


@dataclass
class Result:
    database: str
    events: int
    batches: int
    kills: int
    kills_mid_request: int
    resent_batches: int
    resent_found_committed: int  # resent batches the killed server had committed in full
    resent_found_absent: int  # resent batches it had not committed at all
    stored_events: int
    duplicates: int
    missing: int
    rebuild_equals_incremental: bool
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def run(
    *,
    database: str = "postgres",
    workflows: int = 200,
    batch: int = 100,
    kills: int = 3,
    seed: int = 2026,
) -> Result:
    from demo.simulation import generate

    started = time.monotonic()
    events = generate(
        workflows=workflows, seed=seed, now=datetime(2026, 11, 25, 12, tzinfo=UTC)
    ).events
    for event in events:  # the engine's own ids: what makes a resend a duplicate
        event.setdefault("event_id", str(uuid.uuid4()))
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    rng = random.Random(seed)

    cluster: Cluster | None = None
    tmp = tempfile.TemporaryDirectory(prefix="taskinbox-crash-")
    server: Server | None = None
    try:
        if database == "postgres":
            cluster = Cluster()
            cluster.start()
            url = cluster.create_database("inbox")
        else:
            url = f"sqlite:///{tmp.name}/db.sqlite3"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "LOG_LEVEL": "ERROR",
            "CHANNEL_LAYER_PREFIX": f"crash-{uuid.uuid4().hex[:8]}",
        }
        env.pop("REDIS_URL", None)
        manage(env, "migrate", "--noinput", "-v0")
        token = json.loads(last_line(manage(env, "shell", "-c", TOKEN)))["token"]
        port = free_port()
        server = Server(url=f"http://127.0.0.1:{port}", env=env, token=token, port=port)
        server.start()

        answered: set[int] = set()  # batches whose 200 arrived
        lost: set[int] = set()  # batches sent whose answer never came (the server died)
        # Of the lost batches sent again: all duplicates (committed before the kill), or none
        # (rolled back). Anything in between would be a half-stored batch.
        tally = {"committed": 0, "absent": 0, "partial": 0}
        mid_request = 0

        def unanswered() -> list[int]:
            return [i for i in range(len(batches)) if i not in answered]

        for _ in range(kills):
            stream = _Stream(
                server,
                batches,
                [i for i in range(len(batches)) if i not in answered],
                answered,
                lost,
                tally,
            )
            stream.start()
            time.sleep(rng.uniform(0.1, 0.6))
            mid_request += stream.busy.is_set()
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            server.process = None
            stream.join(30)
            server.start()
        # The engine sends again whatever has no answer, the lost batches included.
        stream = _Stream(
            server,
            batches,
            [i for i in range(len(batches)) if i not in answered],
            answered,
            lost,
            tally,
        )
        stream.start()
        stream.join()
        if stream.failed or len(answered) != len(batches):
            raise RuntimeError(f"batches refused or unanswered: {stream.failed[:1]}")

        snapshot = json.loads(last_line(manage(env, "shell", "-c", SNAPSHOT)))
        manage(env, "rebuild_projections")
        rebuilt = json.loads(last_line(manage(env, "shell", "-c", SNAPSHOT)))

        sent_ids = sorted(str(e["event_id"]) for e in events)
        stored_ids = snapshot["event_ids"]
        missing = len(set(sent_ids) - set(stored_ids))
        same = all(snapshot[k] == rebuilt[k] for k in ("instances", "steps", "tasks"))
        problems = []
        if missing:
            problems.append(f"{missing} events sent were not stored")
        if snapshot["duplicates"] or len(stored_ids) != len(set(stored_ids)):
            problems.append(f"{snapshot['duplicates']} events stored more than once")
        if len(stored_ids) != len(sent_ids):
            problems.append(f"sent {len(sent_ids)} events, stored {len(stored_ids)}")
        if not same:
            problems.append("rebuild_projections differs from the incremental projections")
        if tally["partial"]:
            problems.append(f"{tally['partial']} batches were half-stored when the server died")
        return Result(
            database=database,
            events=len(events),
            batches=len(batches),
            kills=kills,
            kills_mid_request=mid_request,
            resent_batches=len(lost),
            resent_found_committed=tally["committed"],
            resent_found_absent=tally["absent"],
            stored_events=len(stored_ids),
            duplicates=snapshot["duplicates"],
            missing=missing,
            rebuild_equals_incremental=same,
            seconds=round(time.monotonic() - started, 1),
            problems=problems,
        )
    finally:
        if server is not None:
            server.stop()
        if cluster is not None:
            cluster.close()
        tmp.cleanup()


class _Stream(threading.Thread):
    """Send the pending batches in order on one keep-alive connection until done or the
    server goes away; ``lost`` counts the batches sent whose answer never came."""

    def __init__(
        self,
        server: Server,
        batches: list[list[dict[str, Any]]],
        pending: list[int],
        answered: set[int],
        lost: set[int],
        tally: dict[str, int],
    ) -> None:
        super().__init__(daemon=True)
        self.server, self.batches, self.pending = server, batches, pending
        self.answered, self.lost, self.tally = answered, lost, tally
        self.busy = threading.Event()
        self.failed: list[str] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.server.token}"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=30) as client:
            for index in self.pending:
                self.busy.set()
                try:
                    response = client.post("/api/events", json=self.batches[index])
                except httpx.HTTPError:
                    self.lost.add(index)
                    return
                finally:
                    self.busy.clear()
                if response.status_code in (200, 201):
                    self.answered.add(index)
                    if index in self.lost:
                        duplicates = response.json()["duplicates"]
                        size = len(self.batches[index])
                        kind = {size: "committed", 0: "absent"}.get(duplicates, "partial")
                        self.tally[kind] += 1
                else:
                    self.failed.append(f"{response.status_code} {response.text[:300]}")
                    return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(
        database=args.database,
        workflows=args.workflows,
        batch=args.batch,
        kills=args.kills,
        seed=args.seed,
    )
    print_result(result, args.json, "OK: every event once, rebuild equals incremental")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
