"""Reports benchmark: the console's Reports page over 200,000 workflow instances.

Builds a fresh database of INSTANCES instances (default 200,000) with TASKS_PER_INSTANCE
human tasks each (default 2), with ``bench/search.py``'s data builder (rows only, no search
documents), its durations and task cycle times spread at random (to the microsecond, ~2 % of
completed instances without a duration, some failed or canceled, some tasks late or
reassigned) so that the percentiles have real work to do.

Then it times, through Django's test client as a signed-in manager (the Managers role):

- the Reports page, all workflows, and filtered to one workflow;
- ``workflows_ui.reports.build_report`` alone (the database's percentiles);
- the reference: the same numbers by the old method (every completed instance's duration and
  every task's row sent to Python, percentiles sorted there), in the same run, and checks that
  both give the same figures.

It prints p50/p95 in ms and the reference's p50 over the new one's.

    .venv/bin/python bench/reports.py                         # SQLite; PostgreSQL too when
                                                              # DATABASE_URL is postgres://
    .venv/bin/python bench/reports.py --instances 20000       # smaller, quicker
    .venv/bin/python bench/reports.py --vendor postgres       # one vendor only
    .venv/bin/python bench/reports.py --vendor sqlite --keep  # keep the file, then:
    .venv/bin/python bench/reports.py --reuse FILE            # measure again, no build
    .venv/bin/python bench/reports.py --reuse postgres        # the same, kept bench_reports
    .venv/bin/python bench/reports.py --explain               # query plans of the report

The SQLite file is a temporary one (deleted after); on PostgreSQL a database
``bench_reports`` is created beside DATABASE_URL's and dropped after (``--keep`` keeps both).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as data

PG_DB = "bench_reports"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def spread(n: int, per_instance: int, now: datetime, user_ids: list[int]) -> Iterator[Any]:
    """``bench/search.py``'s instances and tasks, durations and cycle times made various."""
    rnd = random.Random(data.SEED + 1)
    for inst, tasks in data.generate(n, per_instance, now, user_ids):
        started = inst["started_at"]
        if inst["status"] == "completed":
            roll = rnd.random()
            if roll < 0.04:
                inst.update(status=rnd.choice(("failed", "canceled")), duration_seconds=None)
            else:
                seconds = round(rnd.lognormvariate(11, 1.2), 6)  # a day or so, long tail
                inst.update(
                    ended_at=started + timedelta(seconds=seconds),
                    duration_seconds=None if roll > 0.98 else seconds,
                )
        for task, _ in tasks:
            if rnd.random() < 0.1:
                task["reassignment_count"] = rnd.randrange(1, 4)
            if rnd.random() < 0.3:
                task["due_at"] = task["created_at"] + timedelta(hours=rnd.randrange(1, 72))
            if task["status"] == "completed":
                cycle = timedelta(
                    seconds=rnd.lognormvariate(9, 1.5), microseconds=rnd.randrange(10**6)
                )
                task.update(
                    completed_at=task["created_at"] + cycle, closed_at=task["created_at"] + cycle
                )
        yield inst, tasks


# --- the reference: the method before, every row to Python ------------------------------------


def python_report(filters: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The old ``workflow_rows``/``step_rows``: counts and percentiles in Python."""
    from django.db.models import Count

    from workflows.models import HumanTask, WorkflowInstance
    from workflows_ui import reports

    qs = WorkflowInstance.objects.all()
    if filters.get("workflow"):
        qs = qs.filter(workflow_name=filters["workflow"])
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in (
        qs.order_by().values_list("workflow_name", "status").annotate(n=Count("id"))
    ):
        counts.setdefault(name, {})[status] = n
    durations: dict[str, list[float]] = {}
    for name, seconds in (
        qs.filter(status="completed", duration_seconds__isnull=False)
        .values_list("workflow_name", "duration_seconds")
        .iterator(chunk_size=5000)
    ):
        durations.setdefault(name, []).append(seconds)
    steps: dict[tuple[str, str], list[Any]] = {}
    rows = HumanTask.objects.filter(instance__in=qs).values_list(
        "instance__workflow_name", "step_name", "status", "created_at", "completed_at",
        "due_at", "reassignment_count",
    )  # fmt: skip
    for wf, step, status, created, completed, due, reassigned in rows.iterator(chunk_size=5000):
        row = steps.setdefault((wf, step), [0, 0, 0, 0, []])
        row[0] += 1
        row[2] += 1 if reassigned else 0
        if status == "completed":
            row[1] += 1
            if created and completed:
                row[4].append((completed - created).total_seconds())
        if due and (
            (status == "completed" and completed and completed > due)
            or (status == "open" and now > due)
        ):
            row[3] += 1
    p = reports.percentile
    return {
        "workflows": {
            name: (c, p(durations.get(name, []), 0.5), p(durations.get(name, []), 0.9))
            for name, c in counts.items()
        },
        "steps": {k: (*r[:4], p(r[4], 0.5), p(r[4], 0.9)) for k, r in steps.items()},
    }


def as_dict(report: Any) -> dict[str, Any]:
    return {
        "workflows": {
            r.workflow_name: (dict(r.counts), r.median_duration, r.p90_duration)
            for r in report.workflows
        },
        "steps": {
            (r.workflow_name, r.step_name): (
                r.tasks, r.completed, r.reassigned, r.overdue, r.median_cycle, r.p90_cycle
            )
            for r in report.steps
        },
    }  # fmt: skip


def same(a: Any, b: Any) -> bool:
    """Equal, floats to the microsecond (PostgreSQL's and Python's sums may differ by an ulp)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return bool(a == b)


# --- measurement ------------------------------------------------------------------------------


def run_vendor(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from workflows.models import HumanTask, WorkflowInstance
    from workflows_ui import reports

    t0 = time.perf_counter()
    rows_s = 0.0
    if not args.reuse:
        rows_s, _, _ = data.build(
            args.instances, args.tasks_per_instance, documents=False, rows=spread
        )
        if connection.vendor == "postgresql":
            # As autovacuum leaves a loaded table: its visibility map set, so that the
            # percentiles' index-only walks do not visit the heap.
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE")
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            version = f"PostgreSQL {cur.fetchone()[0]}"
    else:
        version = f"SQLite {connection.Database.sqlite_version}"
    print(f"\n## {version}\n")
    print(
        f"{WorkflowInstance.objects.count():,} instances, {HumanTask.objects.count():,} tasks; "
        f"rows written in {rows_s:.0f} s (build {time.perf_counter() - t0:.0f} s)"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores; "
          "load average (1/5/15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))  # fmt: skip
    manager, _ = User.objects.get_or_create(username="bench-manager")
    manager.groups.add(Group.objects.get(name="Managers"))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    one = WorkflowInstance.objects.order_by("workflow_name").values_list(
        "workflow_name", flat=True
    )[0]
    print(f"\nruns: {args.runs}, reference {args.ref_runs}; times in ms (p50 / p95)\n")
    print("| scope | Reports page (view) | `build_report` (database percentiles) "
          "| reference: old method, Python over all rows | reference ÷ new (p50) "
          "| same figures |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|")
    for label, filters in (("all workflows", {}), (f"one workflow (`{one}`)", {"workflow": one})):

        def page(f: dict[str, Any] = filters) -> None:
            response = client.get("/workflows/reports/", f)
            assert response.status_code == 200, response.status_code

        v50, v95, _ = data.timed(page, args.runs)
        b50, b95, new = data.timed(
            lambda f=filters: reports.build_report(filters=f, now=NOW), args.runs
        )
        r50, r95, old = data.timed(lambda f=filters: python_report(f, NOW), args.ref_runs)
        ok = same(as_dict(new), old)
        print(
            f"| {label} | {v50:.1f} / {v95:.1f} | {b50:.1f} / {b95:.1f} | {r50:.1f} / {r95:.1f} "
            f"| {r50 / b50:.1f}x | {'yes' if ok else 'NO'} |",
            flush=True,
        )
        if not ok:
            raise SystemExit(f"the database's figures differ from the reference ({label})")
    print("\nwhere `build_report`'s time goes, all workflows (p50 / p95 ms): ", end="")
    parts = {
        "instance counts and durations": lambda: reports.workflow_rows(filters={}),
        "step counts and cycle times": lambda: reports.step_rows(filters={}, now=NOW),
        "completions per day": lambda: reports.completions_per_day(now=NOW),
    }
    print("; ".join(
        "{} {:.1f} / {:.1f}".format(name, *data.timed(fn, args.runs)[:2])
        for name, fn in parts.items()
    ))  # fmt: skip
    if args.explain:
        explain()
    print("\nload average at the end (1/5/15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def explain() -> None:
    """The plans of the report's queries, with the time each takes alone."""
    from django.db import connection

    from workflows_ui import reports

    with connection.execute_wrapper(_plan):
        reports.build_report(filters={}, now=NOW)


def _plan(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    from django.db import connection

    if sql.startswith("EXPLAIN"):
        return execute(sql, params, many, context)
    t0 = time.perf_counter()
    out = execute(sql, params, many, context)
    ms = (time.perf_counter() - t0) * 1000
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cur:
        cur.execute(prefix + sql, params)
        plan = [str(row[-1]) for row in cur.fetchall()]
    print(f"\n```\n-- {ms:.1f} ms: {sql[:160]}...")
    print("\n".join(plan))
    print("```")
    return out


# --- processes --------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    if args.reuse == "postgres":  # the database an earlier --vendor postgres --keep left
        data.setup(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + PG_DB)
        run_vendor(args)
        return 0
    if args.reuse:
        data.setup(f"sqlite:///{Path(args.reuse).resolve()}")
        run_vendor(args)
        return 0
    if args.vendor == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-reports-")) / "reports.sqlite3"
        data.setup(f"sqlite:///{path}")
        try:
            run_vendor(args)
        finally:
            if not args.keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                path.parent.rmdir()
            else:
                print(f"kept {path}")
        return 0
    admin_url = os.environ["DATABASE_URL"]
    url = admin_url.rsplit("/", 1)[0] + "/" + PG_DB
    data.pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{PG_DB}"')
    data.pg_admin(admin_url, f'CREATE DATABASE "{PG_DB}"')
    try:
        data.setup(url)
        run_vendor(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            data.pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{PG_DB}"')
        else:
            print(f"kept database {PG_DB}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200_000)
    parser.add_argument("--tasks-per-instance", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ref-runs", type=int, default=5, help="runs of the old method")
    parser.add_argument("--vendor", choices=("sqlite", "postgres"), help="one vendor only")
    parser.add_argument("--keep", action="store_true", help="keep the database(s)")
    parser.add_argument("--explain", action="store_true", help="print the queries' plans")
    parser.add_argument(
        "--reuse",
        metavar="SQLITE_FILE|postgres",
        help="measure on what an earlier --keep run left (a SQLite file, or bench_reports)",
    )
    args = parser.parse_args(argv)
    if args.vendor or args.reuse:
        args.vendor = args.vendor or "sqlite"
        return child(args)
    started = time.perf_counter()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(
        f"# bench/reports.py --instances {args.instances} "
        f"--tasks-per-instance {args.tasks_per_instance} ({stamp})"
    )
    vendors = ["sqlite"]
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        vendors.append("postgres")
    rest = list(argv if argv is not None else sys.argv[1:])
    status = 0
    for vendor in vendors:
        status |= subprocess.call([sys.executable, __file__, *rest, "--vendor", vendor])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
