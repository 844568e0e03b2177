"""What the tasks' report fields cost ingest: in process, with and without them, alternating.

The same simulated events (``demo.simulation.generate``) are ingested in batches of 100 by
``workflows.ingest.ingest_events`` (live broadcast receiver disconnected) into a fresh
migrated SQLite file per run, alternately:

- **with**: the code as it is: the fold derives ``HumanTask.workflow_name`` and
  ``cycle_seconds`` and the store writes them, ``task_report_idx`` maintained;
- **without**: ``fold.report_fields`` a no-op (the columns stay at their defaults, so the
  rows are written as before the change) and ``task_report_idx`` dropped.

Alternating runs on one machine share its load, so the medians compare fairly (a first
run of each is not counted).

    .venv/bin/python bench/ingest_report_fields.py [--workflows 600] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-fields-"))
    template = workdir / "template.sqlite3"
    data.setup(f"sqlite:///{template}")

    from django.db import connection, connections, transaction

    from demo.simulation import generate
    from demo.users import ensure_demo_users
    from workflows import fold
    from workflows.ingest import events_ingested, ingest_events

    ensure_demo_users()
    events_ingested.disconnect(dispatch_uid="live.broadcast")
    connections.close_all()
    events = generate(
        workflows=args.workflows, seed=2026, now=datetime(2026, 11, 25, 12, tzinfo=UTC)
    ).events
    batches = [events[i : i + 100] for i in range(0, len(events), 100)]
    derive = fold.report_fields
    results: dict[str, list[float]] = {"with": [], "without": []}
    try:
        # a first run of each, not counted (imports, caches), then alternating, each mode
        # first every other run
        for run in range(-1, args.runs):
            for mode in ("with", "without") if run % 2 else ("without", "with"):
                db = workdir / f"{mode}-{run}.sqlite3"
                shutil.copy(template, db)
                connection.settings_dict["NAME"] = str(db)
                connection.close()
                if mode == "without":
                    with connection.cursor() as cur:
                        cur.execute("DROP INDEX task_report_idx")
                    fold.report_fields = lambda task, workflow_name: None
                t0 = time.perf_counter()
                for batch in batches:
                    with transaction.atomic():
                        ingest_events(events=batch, source="bench")
                rate = len(events) / (time.perf_counter() - t0)
                fold.report_fields = derive
                connection.close()
                db.unlink()
                if run >= 0:
                    results[mode].append(rate)
                print(f"run {run + 1} {mode:>7}: {rate:,.0f} events/s", flush=True)
    finally:
        fold.report_fields = derive
        shutil.rmtree(workdir)
    load = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(f"\n{len(events):,} events, batches of 100, {args.runs} runs each; load now {load}")
    for mode, rates in results.items():
        print(
            f"{mode:>7}: median {statistics.median(rates):,.0f} events/s, "
            f"best {max(rates):,.0f}, worst {min(rates):,.0f}"
        )
    ratio = statistics.median(results["with"]) / statistics.median(results["without"])
    print(f"with ÷ without (medians): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
