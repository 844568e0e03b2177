"""What the live broadcast costs the ingest path: in-process ingest, with and without it.

    .venv/bin/python bench/live_ingest.py                 # 600 workflows, batches of 100
    .venv/bin/python bench/live_ingest.py --workflows 300 --batch 100

``demo.simulation.generate(workflows=..., seed=1).events`` ingested with
``workflows.ingest.ingest_events`` in batches, on a fresh SQLite file (DEBUG off, the default
in-memory channel layer, or Redis when REDIS_URL is set), twice: once with the broadcast
receiver connected (as in production) and once disconnected, each on its own fresh database.
The first 5 batches are warm-up, not timed. Also counts group_send calls and how many
``async_to_sync`` calls the broadcast made.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, os, time
from django.core.management import call_command
call_command("migrate", "--noinput", verbosity=0)
from asgiref import sync
from channels.layers import get_channel_layer
from live import broadcast
from workflows.models import Event
from workflows.ingest import events_ingested, ingest_events
from demo.simulation import generate

broadcast.connect()
if os.environ["BENCH_BROADCAST"] == "0":
    events_ingested.disconnect(dispatch_uid="live.broadcast")
layer = get_channel_layer()
counts = {"group_send": 0, "async_to_sync": 0}
real_group_send = layer.group_send
async def counted(group, message):
    counts["group_send"] += 1
    return await real_group_send(group, message)
layer.group_send = counted
real_init = sync.AsyncToSync.__init__
def init(self, *a, **k):
    counts["async_to_sync"] += 1
    real_init(self, *a, **k)
sync.AsyncToSync.__init__ = init

events = generate(workflows=int(os.environ["BENCH_WORKFLOWS"]), seed=1).events
size = int(os.environ["BENCH_BATCH"])
batches = [events[i : i + size] for i in range(0, len(events), size)]
warm, timed = batches[:5], batches[5:]
for b in warm:
    ingest_events(events=b, source="bench")
counts = {k: 0 for k in counts}
t = time.perf_counter()
for b in timed:
    ingest_events(events=b, source="bench")
elapsed = time.perf_counter() - t
n = sum(len(b) for b in timed)
assert Event.objects.count() == len(events)
print(json.dumps({"events": n, "batches": len(timed), "seconds": round(elapsed, 2),
                  "events_per_s": round(n / elapsed), **{k + "_per_batch": round(v / len(timed), 1)
                  for k, v in counts.items()}}))
"""


def run(broadcast: bool, args: argparse.Namespace) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="bench-live-ingest-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "BENCH_BROADCAST": "1" if broadcast else "0",
        "BENCH_WORKFLOWS": str(args.workflows),
        "BENCH_BATCH": str(args.batch),
    }
    try:
        out = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", RUN],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=600,
        ).stdout.decode()
    finally:
        for f in Path(tmp).iterdir():
            f.unlink()
        Path(tmp).rmdir()
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    results = {
        "layer": "redis" if os.environ.get("REDIS_URL") else "in-memory",
        "with_broadcast": run(True, args),
        "broadcast_disconnected": run(False, args),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
