"""Search benchmark: ``?q=`` over 200,000 workflow instances, indexed and not.

Builds a fresh database of INSTANCES instances (default 200,000), each with business data
in its initial data (a key like ``EXP-2026-4916``, a customer, an amount, a note) and
TASKS_PER_INSTANCE human tasks (default 2) with titles and descriptions. Rows are written
by the fold's own writers (``workflows.store``'s fastsql tables) and the search documents by
``workflows.search.write`` with ``instance_text``/``task_body``, i.e. exactly what ingest
stores, without going through the event log (hours on two cores at this size).

Then it times, per query (business key exact, its part, a broad part, a word of the
descriptions, no hits; and a two-character query, which no trigram serves):

- the selectors: the console's instance list (``workflows_ui.selectors.instance_page``, the
  first page of 50), History (``task_history``, first 50) and one person's My tasks
  (``inbox.selectors.my_tasks``, first 25);
- the instance list view through Django's test client (the htmx partial the search box
  fetches, status chips included), as an admin;
- the reference: the same instance-list page with the search done as an unindexed
  ``icontains`` scan of the source columns (workflow name, initial data as text, the tasks'
  step names, titles and descriptions), as the list would without the index.

It reports p50/p95 in ms and the reference's p50 over the indexed selector's p50.

    .venv/bin/python bench/search.py                         # SQLite; PostgreSQL too when
                                                             # DATABASE_URL is postgres://
    .venv/bin/python bench/search.py --instances 20000       # smaller, quicker
    .venv/bin/python bench/search.py --vendor postgres       # one vendor only
    .venv/bin/python bench/search.py --explain               # query plans of the list
    .venv/bin/python bench/search.py --vendor sqlite --keep  # keep the file, then:
    .venv/bin/python bench/search.py --reuse FILE            # measure again, no build

The SQLite file is a temporary one (deleted after); on PostgreSQL a database
``bench_search`` is created beside DATABASE_URL's and dropped after (``--keep`` keeps both).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261129
USERS = 50
PG_DB = "bench_search"

WORKFLOWS: list[tuple[str, str, list[str]]] = [
    ("expense-report", "EXP", ["check", "approve"]),
    ("invoice-approval", "INV", ["review", "approve"]),
    ("purchase-order", "PO", ["quote", "order"]),
    ("contract-review", "CTR", ["legal", "sign"]),
    ("access-request", "ACC", ["justify", "provision"]),
    ("refund-request", "RFD", ["verify", "refund"]),
]
CUSTOMERS = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Soylent",
    "Cyberdyne", "Tyrell", "Aperture", "Vandelay", "Dunder", "Pied Piper", "Monarch",
    "Oscorp", "Gringotts", "Nakatomi", "Massive Dynamic",
]  # fmt: skip
WORDS = [
    "hotel", "conference", "laptop", "consulting", "catering", "license", "subscription",
    "maintenance", "customs", "mileage", "freight", "training", "software", "hardware",
    "office", "travel", "marketing", "insurance", "rent", "utilities", "cleaning", "repairs",
    "postage", "printing", "courier", "legal", "audit", "recruiting", "relocation", "warranty",
]  # fmt: skip


def queries(exact: str) -> list[tuple[str, str]]:
    return [
        ("(no search: the lists as they are)", ""),
        ("business key, exact", exact),
        ("business key, part (number)", exact.rsplit("-", 1)[1]),
        ("business key, broad part", exact.rsplit("-", 1)[0]),
        ("word of descriptions", "warranty"),
        ("no hits", "QZX-9999-0000"),
        ("two characters (no trigram)", "zq"),
    ]


# --- the fixture ---------------------------------------------------------------------------


def generate(n: int, per_instance: int, now: datetime, user_ids: list[int]) -> Iterator[Any]:
    """(instance values, [task values]) per instance, oldest first, as the fold makes them."""
    from workflows.fold import instance_defaults, task_defaults

    rnd = random.Random(SEED)
    counters: dict[tuple[str, int], int] = {}
    span = 2 * 365 * 86400
    for i in range(n):
        name, prefix, steps = rnd.choice(WORKFLOWS)
        started = now - timedelta(seconds=span * (1 - i / n) + rnd.uniform(0, 600))
        year = started.year
        counters[(prefix, year)] = counters.get((prefix, year), 0) + 1
        key = f"{prefix}-{year}-{counters[(prefix, year)]:04d}"
        customer = rnd.choice(CUSTOMERS)
        amount = rnd.randrange(50, 90_000)
        recent = (now - started).days < 30
        status = rnd.choice(("running", "waiting")) if recent else "completed"
        iid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        inst = instance_defaults(iid)
        inst.update(
            workflow_name=name,
            workflow_version="1",
            status=status,
            started_at=started,
            first_event_at=started,
            last_event_at=started + timedelta(hours=2),
            event_count=2 + 2 * per_instance,
            initiator=f"user{rnd.randrange(USERS):02d}",
            initial_data={
                "reference": key,
                "customer": {"name": customer, "vat": f"DE{rnd.randrange(10**9):09d}"},
                "amount": amount,
                "currency": "EUR",
                "cost_center": f"CC-{rnd.randrange(100, 1000)}",
                "note": " ".join(rnd.sample(WORDS, 3)),
            },
        )
        if status == "completed":
            inst.update(ended_at=started + timedelta(days=2), duration_seconds=172800.0)
        tasks = []
        for k in range(per_instance):
            step = steps[k % len(steps)]
            tid = uuid.UUID(int=rnd.getrandbits(128), version=4)
            task = task_defaults(tid, step)
            user = rnd.choice(user_ids)
            done = status == "completed" or k < per_instance - 1
            task.update(
                title=f"{step.capitalize()} {name.replace('-', ' ')}",
                description=f"{customer}: {step} for {key}, amount {amount} EUR. "
                f"{' '.join(rnd.sample(WORDS, 4)).capitalize()}.",
                assignee=f"user{user_ids.index(user):02d}",
                created_at=started + timedelta(minutes=10 * (k + 1)),
                status="completed" if done else "open",
            )
            if done:
                task.update(
                    completed_at=started + timedelta(hours=k + 1),
                    closed_at=started + timedelta(hours=k + 1),
                    completed_by=task["assignee"],
                    closed_reason="completed",
                )
            tasks.append((task, user))
        yield inst, tasks


def build(
    n: int,
    per_instance: int,
    *,
    documents: bool = True,
    rows: Callable[..., Iterator[Any]] = generate,
) -> tuple[float, float, str]:
    """Write the rows and their search documents; (rows seconds, index seconds, a key).

    ``documents=False`` writes the rows only (bench/reports.py); ``rows`` replaces
    ``generate`` (same signature and values)."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from workflows import fastsql, search
    from workflows.fold import report_fields
    from workflows.store import _INSTANCE_KEYS, _INSTANCES_WRITE, _TASK_KEYS, _TASKS_WRITE

    User.objects.create_superuser("bench-admin", password="x")
    users = User.objects.bulk_create(User(username=f"user{u:02d}") for u in range(USERS))
    user_ids = [u.pk for u in users]
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    pg = connection.vendor == "postgresql"
    if pg and documents:
        with connection.cursor() as cur:
            for table in search_tables():
                cur.execute(f'DROP INDEX "{table}_body_trgm"')  # built once, after the load
    rows_s = index_s = 0.0
    key = ""
    batch: list[Any] = []

    def flush() -> None:
        nonlocal rows_s, index_s
        for i, ts in batch:  # as the fold ends: the tasks' report fields
            for t, _ in ts:
                report_fields(t, i["workflow_name"])
        t0 = time.perf_counter()
        with transaction.atomic():
            fastsql.upsert(
                _INSTANCES_WRITE,
                [(*(i[k] for k in _INSTANCE_KEYS), now) for i, _ in batch],
                ["instance_id"],
            )
            fastsql.upsert(
                _TASKS_WRITE,
                [
                    (*(t[k] for k in _TASK_KEYS), i["instance_id"], u, None, done_by(t, u), now, 0)
                    for i, ts in batch
                    for t, u in ts
                ],
                ["task_id"],
            )
        t1 = time.perf_counter()
        if not documents:
            rows_s += t1 - t0
            batch.clear()
            return
        with transaction.atomic():
            docs, task_docs = [], []
            for i, ts in batch:
                text = search.instance_text(i["workflow_name"], i["initial_data"])
                docs.append((i["instance_id"], text))
                task_docs += [
                    (t["task_id"], i["instance_id"],
                     search.task_body(t["step_name"], t["title"], t["description"], text))
                    for t, _ in ts
                ]  # fmt: skip
            search.write(docs, task_docs)
        t2 = time.perf_counter()
        rows_s += t1 - t0
        index_s += t2 - t1
        batch.clear()

    for inst, tasks in rows(n, per_instance, now, user_ids):
        if inst["initial_data"]["reference"].startswith("EXP-2026-49") and not key:
            key = inst["initial_data"]["reference"]
        batch.append((inst, tasks))
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        if pg and documents:
            for table in search_tables():
                cur.execute(
                    f'CREATE INDEX "{table}_body_trgm" ON "{table}" USING gin (body gin_trgm_ops)'
                )
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE")
    index_s += time.perf_counter() - t0
    return rows_s, index_s, key or "EXP-2026-0001"


def done_by(task: dict[str, Any], user: int) -> int | None:
    return user if task["completed_by"] else None


def search_tables() -> tuple[str, str]:
    return ("workflows_instancesearch", "workflows_tasksearch")


# --- measurement ---------------------------------------------------------------------------


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    fn()  # warm-up
    times = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return statistics.median(times), p95, out


def unindexed_instances(q: str) -> Any:
    """The reference: the instance list's rows found by ``icontains`` on the source columns
    (every term of the query in the instance or one of its tasks), no index; and, as the
    list does, the instances whose id begins with the query."""
    from django.db.models import Q

    from workflows import search
    from workflows.models import HumanTask, WorkflowInstance

    qs = WorkflowInstance.objects.all()
    ids = search.id_prefix_range(q)  # as the list does: an id's beginning finds it too
    found = Q(instance_id__range=ids) if ids else Q(pk__in=[])
    for term in search.terms(q):
        tasks = HumanTask.objects.filter(
            Q(step_name__icontains=term) | Q(title__icontains=term) | Q(description__icontains=term)
        ).values("instance_id")
        qs = qs.filter(
            Q(workflow_name__icontains=term)
            | Q(initial_data__icontains=term)
            | Q(instance_id__in=tasks)
        )
    return WorkflowInstance.objects.filter(Q(pk__in=qs.values("pk")) | found)


def run_vendor(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from inbox import selectors as inbox_selectors
    from workflows.models import HumanTask, InstanceSearch, TaskSearch, WorkflowInstance
    from workflows_ui import selectors

    t0 = time.perf_counter()
    if args.reuse:  # a database kept by an earlier run (--keep): measure only
        rows_s = index_s = 0.0
        first = (
            WorkflowInstance.objects.filter(initial_data__reference__startswith="EXP-2026-49")
            .order_by("id")
            .first()
        )
        key = first.initial_data["reference"] if first else "EXP-2026-0001"
    else:
        rows_s, index_s, key = build(args.instances, args.tasks_per_instance)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SHOW server_version")
            version = f"PostgreSQL {cur.fetchone()[0]}"
    else:
        version = f"SQLite {connection.Database.sqlite_version}"
    print(f"\n## {version}\n")
    print(
        f"{WorkflowInstance.objects.count():,} instances, {HumanTask.objects.count():,} tasks, "
        f"{InstanceSearch.objects.count():,} + {TaskSearch.objects.count():,} search documents; "
        f"rows written in {rows_s:.0f} s, search documents and index in {index_s:.0f} s "
        f"(build {time.perf_counter() - t0:.0f} s)"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores; "
          "load average (1/5/15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))  # fmt: skip
    person = User.objects.filter(username__startswith="user").order_by("username").first()
    assert person is not None
    admin = Client(HTTP_HOST="127.0.0.1")
    admin.force_login(User.objects.get(username="bench-admin"))
    runs, ref_runs = args.runs, args.ref_runs
    print(
        f"\nruns: {runs} per indexed measurement, {ref_runs} per reference; times in ms "
        f"(p50 / p95); found = rows on the first page\n"
    )
    print("| query | `q` | instance list selector | History selector | My tasks selector "
          "| instance list view (htmx) | reference: unindexed LIKE, instance list "
          "| reference ÷ indexed (p50) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, q in queries(key):
        filters = {"q": q}
        i50, i95, page = timed(
            lambda f=filters: selectors.instance_page(filters=f, cursor=None), runs
        )
        h50, h95, hist = timed(lambda f=filters: list(selectors.task_history(filters=f)[:50]), runs)
        m50, m95, mine = timed(
            lambda f=filters: list(inbox_selectors.my_tasks(user=person, filters=f)[:25]), runs
        )

        def view(q: str = q) -> None:
            response = admin.get("/workflows/", {"q": q}, headers={"HX-Request": "true"})
            assert response.status_code == 200

        v50, v95, _ = timed(view, runs)
        r50, r95, ref = timed(
            lambda q=q: selectors.keyset_page(unindexed_instances(q), sort="-started", cursor=None),
            ref_runs,
        )
        same = [i.pk for i in ref.items] == [i.pk for i in page.items]
        note = "" if same else " (differs!)"
        print(
            f"| {label} | `{q}` | {i50:.1f} / {i95:.1f} ({len(page.items)} found) "
            f"| {h50:.1f} / {h95:.1f} ({len(hist)}) | {m50:.1f} / {m95:.1f} ({len(mine)}) "
            f"| {v50:.1f} / {v95:.1f} | {r50:.1f} / {r95:.1f}{note} | {r50 / i50:.1f}x |",
            flush=True,
        )
        if args.explain:
            explain(q)
    print("\nload average at the end (1/5/15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


def explain(q: str) -> None:
    from django.db import connection

    from workflows_ui import selectors

    qs = selectors.instance_list(filters={"q": q})
    sql, params = qs.order_by("-started_at")[:50].query.sql_with_params()
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
    with connection.cursor() as cur:
        cur.execute(prefix + sql, params)
        print(f"\n```\n-- {q}")
        for row in cur.fetchall():
            print(row[-1])
        print("```\n")


# --- processes -----------------------------------------------------------------------------


def setup(database_url: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-not-secret-" + "x" * 40,
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql)


def child(args: argparse.Namespace) -> int:
    """One vendor, in this process (Django is set up once per process)."""
    if args.reuse:
        setup(f"sqlite:///{Path(args.reuse).resolve()}")
        run_vendor(args)
        return 0
    if args.vendor == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-search-")) / "search.sqlite3"
        setup(f"sqlite:///{path}")
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
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{PG_DB}"')
    pg_admin(admin_url, f'CREATE DATABASE "{PG_DB}"')
    try:
        setup(url)
        run_vendor(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{PG_DB}"')
        else:
            print(f"kept database {PG_DB}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200_000)
    parser.add_argument("--tasks-per-instance", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="per indexed measurement")
    parser.add_argument("--ref-runs", type=int, default=5, help="per unindexed reference")
    parser.add_argument("--vendor", choices=("sqlite", "postgres"), help="one vendor only")
    parser.add_argument("--keep", action="store_true", help="keep the database(s)")
    parser.add_argument("--explain", action="store_true", help="print the list's query plans")
    parser.add_argument(
        "--reuse", metavar="SQLITE_FILE", help="measure on a file an earlier --keep run left"
    )
    args = parser.parse_args(argv)
    if args.vendor or args.reuse:
        args.vendor = args.vendor or "sqlite"
        return child(args)
    started = time.perf_counter()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(
        f"# bench/search.py --instances {args.instances} "
        f"--tasks-per-instance {args.tasks_per_instance} ({stamp})"
    )
    vendors = ["sqlite"]
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        vendors.append("postgres")
    rest = [a for a in (argv if argv is not None else sys.argv[1:])]
    status = 0
    for vendor in vendors:
        status |= subprocess.call([sys.executable, __file__, *rest, "--vendor", vendor])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
