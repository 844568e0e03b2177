"""The load test: people at browsers and an engine's event stream, against a real server.

    .venv/bin/python bench/load/run.py --smoke                 # 8 people, ~10 s, embedded
    .venv/bin/python bench/load/run.py                         # (a) embedded, 200 people
    .venv/bin/python bench/load/run.py --topology prod         # (b) PostgreSQL + Redis

Topologies:

- ``embedded`` (a, the default): one ``uvicorn config.asgi:application`` as ``make serve``
  (the outbox worker embedded, the in-memory channel layer) on a fresh SQLite file;
- ``prod`` (b): ``python -m config.serve`` (``make serve-prod``) with ``WEB_CONCURRENCY``
  server processes (``--workers``, default 2) and its worker process, on a fresh PostgreSQL
  database ``bench_load`` (dropped and created; ``--postgres`` is the server's URL) and the
  Redis channel layer (``--redis``, under a key prefix of its own).

Then: ``bench/load/prepare.py`` (the load people, the token, a backlog of workflows),
``locust -f bench/load/locustfile.py --headless`` with ``--people`` people plus the engine,
spawned at ``--spawn-rate`` per second; once all are spawned the statistics start again
(``--reset-stats``) and run ``--duration`` seconds. Printed at the end (and written to
``--out``, default a new temporary directory): people held and sockets open, requests per
second, p50/p95/p99 per page, failures, live-update delays (p50/p95), the CPU the server
processes and Locust used, and the check that every event the engine sent was stored and
projected (its instance, and the task of each ``HumanTaskCreated``). Exits 1 when a request
failed or an event is missing, 0 otherwise; ``--target-p95`` (ms) reports whether every
page's p95 met it (it does not change the exit status).

``--profile``: py-spy samples one server process (the first uvicorn worker in ``prod``)
during the measured window; the functions with the most samples are printed.

Bounded: every wait has a timeout; only 127.0.0.1 is contacted; the servers are stopped and
the database dropped (SQLite: the temporary directory, unless ``--keep``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from bench.load.resources import Sampler, verdict  # noqa: E402
from tests.support.server import free_port, stop, wait_until_up  # noqa: E402

BIN = Path(sys.executable).parent
SERVE_OPTIONS = ["--ws-per-message-deflate", "false", "--timeout-graceful-shutdown", "10"]
# Page names as the locustfile gives them, in the order of the report.
PAGES = ["My tasks", "Team queues", "task page", "POST complete", "POST claim", "POST reassign"]

CHECK = """
import json, os
from workflows.models import Event, HumanTask, WorkflowInstance
sent = json.load(open(os.environ["LOAD_SENT"]))
ids = [e for e, _, _ in sent]
instances = sorted({i for _, i, _ in sent})
tasks = sorted({t for _, _, t in sent if t})
def count(qs, field, values):
    return sum(qs.filter(**{field + "__in": values[i:i + 500]}).count()
               for i in range(0, len(values), 500))
print(json.dumps({
    "sent": len(ids), "distinct": len(set(ids)),
    "stored": count(Event.objects.filter(source="token:load-engine"), "event_id", ids),
    "instances_sent": len(instances),
    "instances_projected": count(WorkflowInstance.objects, "instance_id", instances),
    "tasks_created": len(tasks),
    "tasks_projected": count(HumanTask.objects, "task_id", tasks),
    "events_in_log": Event.objects.count(),
}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="8 people for ~10 s, embedded")
    parser.add_argument("--topology", choices=("embedded", "prod"), default="embedded")
    parser.add_argument("--workers", type=int, default=2, help="prod: WEB_CONCURRENCY")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument(
        "--spawn-rate", type=float, default=2.0, help="people per second (each signs in)"
    )
    parser.add_argument("--duration", type=int, default=120, help="measured seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="engine events per second")
    parser.add_argument("--batch", type=int, default=10, help="events per engine request")
    parser.add_argument("--think", default="4,12", help="seconds between clicks: low,high")
    parser.add_argument("--backlog", type=int, default=1000, help="workflows before the start")
    parser.add_argument("--target-p95", type=float, default=150.0, help="ms, every page")
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432", help="prod: server URL"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="prod: Redis URL")
    parser.add_argument("--profile", action="store_true", help="py-spy one server process")
    parser.add_argument("--out", default="", help="directory for the CSVs and results")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database")
    parser.add_argument(
        "--sample",
        type=float,
        default=0.0,
        help="seconds between samples of memory, descriptors and connections (0: none); "
        "the report says whether each stayed flat (bench/load/resources.py)",
    )
    args = parser.parse_args()
    if args.smoke:
        args.topology, args.people, args.spawn_rate, args.duration = "embedded", 8, 8.0, 10
        args.rate, args.batch, args.think, args.backlog = 20.0, 5, "1,3", 60
    if args.people < 4:
        parser.error("--people must be at least 4 (one per team)")
    if args.duration < 5 or args.spawn_rate <= 0 or args.rate <= 0 or args.batch < 1:
        parser.error("--duration >= 5, --spawn-rate > 0, --rate > 0 and --batch >= 1")
    try:
        low, high = (float(x) for x in args.think.split(","))
    except ValueError:
        parser.error("--think is low,high in seconds, e.g. 4,12")
    if not 0 <= low <= high:
        parser.error("--think: 0 <= low <= high")
    return args


class Database:
    """A fresh database: a SQLite file, or PostgreSQL ``bench_load`` (dropped at the end)."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.postgres = args.topology == "prod"
        if self.postgres:
            self.url = f"{args.postgres.rstrip('/')}/bench_load"
            self._sql(
                "DROP DATABASE IF EXISTS bench_load WITH (FORCE)", "CREATE DATABASE bench_load"
            )
        else:
            self.url = f"sqlite:///{tmp / 'load.sqlite3'}"

    def _sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.args.postgres.rstrip('/')}/postgres", autocommit=True) as c:
            for statement in statements:
                c.execute(statement)

    def drop(self) -> None:
        if self.postgres:
            self._sql("DROP DATABASE IF EXISTS bench_load WITH (FORCE)")


def environment(args: argparse.Namespace, database: Database) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database.url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "load-" + uuid.uuid4().hex,
        "LOG_LEVEL": "WARNING",
        "CHANNEL_LAYER_PREFIX": f"load-{uuid.uuid4().hex[:8]}",
    }
    env.pop("REDIS_URL", None)
    env.pop("OUTBOX_EMBEDDED_WORKER", None)
    if args.topology == "prod":
        env["REDIS_URL"] = args.redis
    return env


def run(command: list[str], env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode()[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return done.stdout.decode()


def start_server(args: argparse.Namespace, env: dict[str, str], port: int) -> subprocess.Popen:
    if args.topology == "embedded":
        command = [
            str(BIN / "uvicorn"),
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *SERVE_OPTIONS,
        ]
        env = {**env, "OUTBOX_EMBEDDED_WORKER": "1"}
    else:
        command = [sys.executable, "-m", "config.serve"]
        env = {
            **env,
            "WEB_CONCURRENCY": str(args.workers),
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    wait_until_up(f"http://127.0.0.1:{port}/accounts/login/", process, timeout=60)
    return process


def tree(process: subprocess.Popen) -> list[psutil.Process]:
    parent = psutil.Process(process.pid)
    return [parent, *parent.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_workers(process: subprocess.Popen) -> list[psutil.Process]:
    """The processes that serve requests (uvicorn's workers in prod; the one uvicorn else)."""
    found = []
    for p in tree(process):
        try:
            line = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "run_worker" in line or "config.serve" in line:
            continue
        if "spawn_main" in line or "uvicorn" in line:
            found.append(p)
    workers = [p for p in found if "spawn_main" in " ".join(p.cmdline())]
    return workers or found


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def profile_summary(raw: Path, top: int = 25) -> list[tuple[str, float, float]]:
    """From py-spy's collapsed stacks: (function, % of samples anywhere on the stack, % of
    samples as the innermost frame)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return []
    return [(f, 100 * n / total, 100 * own[f] / total) for f, n in inclusive.most_common(top)]


def main() -> int:
    args = parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="load-results-"))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="load-db-"))
    database = Database(args, tmp)
    server: subprocess.Popen | None = None
    try:
        env = environment(args, database)
        started = time.monotonic()
        run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env)
        prepared = json.loads(
            run(
                [
                    sys.executable,
                    str(HERE / "prepare.py"),
                    "--people",
                    str(args.people),
                    "--backlog",
                    str(args.backlog),
                ],
                env,
            )
            .strip()
            .splitlines()[-1]
        )
        print(
            f"prepared in {time.monotonic() - started:.0f} s:",
            json.dumps({k: v for k, v in prepared.items() if k != "token"}),
        )
        port = free_port()
        server = start_server(args, env, port)
        host = f"http://127.0.0.1:{port}"
        ramp = int(args.people / args.spawn_rate) + 2
        prefix = out / "locust"
        command = [
            str(BIN / "locust"),
            "-f",
            str(HERE / "locustfile.py"),
            "--headless",
            "-u",
            str(args.people + 1),  # the engine is one of the users
            "-r",
            str(args.spawn_rate),
            "-t",
            f"{ramp + args.duration + 120}s",  # a bound; the measurement ends the run
            "--host",
            host,
            "--csv",
            str(prefix),
            "--only-summary",
            "--stop-timeout",
            "5",
            "--loglevel",
            "WARNING",
            "--load-people",
            str(args.people),
            "--load-token",
            prepared["token"],
            "--load-rate",
            str(args.rate),
            "--load-batch",
            str(args.batch),
            "--load-think",
            args.think,
            "--load-duration",
            str(args.duration),
            "--load-results",
            str(out / "results.json"),
            "--load-sent",
            str(out / "sent.json"),
        ]
        print(
            f"locust: {args.people} people + engine ({args.rate:g} events/s), ramp ~{ramp} s, "
            f"then {args.duration} s measured, against {args.topology} at {host}",
            flush=True,
        )
        load_before = os.getloadavg()
        locust = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        locust_ps = psutil.Process(locust.pid)
        # The measured window (from the last sign-in on): the CPU of the servers and of
        # Locust over it.
        started_file = out / "results.json.started"
        while not started_file.exists() and locust.poll() is None:
            time.sleep(0.2)
        # No window when Locust ended before everyone had signed in (nothing measured).
        server_cpu = locust_cpu = window = 0.0
        spy: subprocess.Popen | None = None
        sampler: Sampler | None = None
        if started_file.exists():
            servers = tree(server)
            server_cpu, locust_cpu, window = (
                cpu_seconds(servers),
                cpu_seconds([locust_ps]),
                time.monotonic(),
            )
            if args.sample:
                sampler = Sampler(
                    root_pid=server.pid,
                    interval=args.sample,
                    database="bench_load" if database.postgres else "",
                    postgres_url=args.postgres,
                    redis_url=args.redis if args.topology == "prod" else "",
                )
                sampler.start()
            if args.profile:
                target = server_workers(server)[0]
                spy = subprocess.Popen(
                    [
                        str(BIN / "py-spy"),
                        "record",
                        "--pid",
                        str(target.pid),
                        "--duration",
                        str(max(5, args.duration - 10)),
                        "--rate",
                        "50",
                        "--format",
                        "raw",
                        "--output",
                        str(out / "profile.txt"),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            time.sleep(max(0, args.duration - 3))
            if sampler is not None:
                sampler.stop()
            server_cpu = cpu_seconds(servers) - server_cpu
            locust_cpu = cpu_seconds([locust_ps]) - locust_cpu
            window = time.monotonic() - window
        locust_status = locust.wait(timeout=args.duration + ramp + 240)
        load_after = os.getloadavg()
        if spy is not None:
            spy.wait(timeout=120)
        checked = json.loads(
            run(
                [sys.executable, "manage.py", "shell", "-c", CHECK],
                {**env, "LOAD_SENT": str(out / "sent.json")},
            )
            .strip()
            .splitlines()[-1]
        )
    finally:
        if server is not None:
            # config.serve (and uvicorn) stop their children on SIGTERM.
            os.killpg(server.pid, signal.SIGTERM) if server.poll() is None else None
            stop(server, timeout=30)
        database.drop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    stats = read_stats(prefix)
    results = json.loads((out / "results.json").read_text())
    report = summarise(args, stats, results, checked, prepared)
    report["cpu"] = {
        "window_s": round(window, 1),
        "server_cores": round(server_cpu / window, 2) if window else None,
        "locust_cores": round(locust_cpu / window, 2) if window else None,
        "load_average_before_after": [round(load_before[0], 1), round(load_after[0], 1)],
        "cores": os.cpu_count(),
    }
    if sampler is not None:
        report["resources"] = {
            "verdict": verdict(sampler.samples, warmup=min(60.0, args.duration / 4)),
            "samples": sampler.samples,
        }
    if args.profile and (out / "profile.txt").exists():
        report["profile"] = [
            (f, round(incl, 1), round(own, 1))
            for f, incl, own in profile_summary(out / "profile.txt")
        ]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"results in {out}")
    if report["failures"]:
        print("failures (Locust's CSV):")
        print(Path(f"{prefix}_failures.csv").read_text())
    if not results["measured"]:
        print(f"only {results['signed_in']} of {args.people} people signed in: nothing measured")
    if not report["events"]["all_projected"]:
        print("events: not every sent event was stored and projected")
    flat = sampler is None or report["resources"]["verdict"]["flat"]
    if not flat:
        print("resources: not flat:", json.dumps(report["resources"]["verdict"]))
    ok = (
        results["measured"]
        and report["failures"] == 0
        and report["events"]["all_projected"]
        and locust_status in (0, 1)
        and flat
    )
    return 0 if ok else 1


def summarise(
    args: argparse.Namespace,
    stats: list[dict[str, str]],
    results: dict[str, Any],
    checked: dict[str, Any],
    prepared: dict[str, Any],
) -> dict[str, Any]:
    rows = {r["Name"]: r for r in stats}
    http = [r for r in stats if r["Type"] not in ("WS", "") and r["Name"] != "Aggregated"]

    def figures(row: dict[str, str]) -> dict[str, Any]:
        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "per_s": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
        }

    pages = {name: figures(rows[name]) for name in [*PAGES, "POST /api/events"] if name in rows}
    sockets = {r["Name"]: figures(r) for r in stats if r["Type"] == "WS"}
    failures = sum(int(r["Failure Count"]) for r in stats if r["Name"] != "Aggregated")
    people_pages = [pages[p] for p in PAGES if p in pages]
    met = all(p["p95_ms"] <= args.target_p95 for p in people_pages) and bool(people_pages)
    all_projected = (
        checked["sent"] == checked["distinct"] == checked["stored"]
        and checked["instances_projected"] == checked["instances_sent"]
        and checked["tasks_projected"] == checked["tasks_created"]
        and checked["sent"] > 0
    )
    return {
        "topology": args.topology
        + (f" ({args.workers} server processes)" if args.topology == "prod" else ""),
        "people": args.people,
        "people_signed_in": results["signed_in"],
        "measured_s": results["measured_seconds"],
        "sockets_open": results["sockets_open"],
        "engine_rate_target": args.rate,
        "engine_events_per_s": round(
            results["engine_measured"]["events"] / max(1.0, results["measured_seconds"]), 1
        ),
        "engine_mean_batch": round(
            results["engine_measured"]["events"] / max(1, results["engine_measured"]["requests"]),
            1,
        ),
        "requests_per_s": round(sum(float(r["Requests/s"]) for r in http), 1),
        "people_requests_per_s": round(sum(p["per_s"] for p in people_pages), 1),
        "pages": pages,
        "sockets": sockets,
        "failures": failures,
        "target_p95_ms": args.target_p95,
        "target_met": met,
        "live_delay": results["live_delay"],
        "live_marks": results["marks"],
        "live_unseen": results["unseen"],
        "outcomes": results["outcomes"],
        "events": {**checked, "all_projected": all_projected, "engine": results["engine"]},
        "backlog": {k: v for k, v in prepared.items() if k != "token"},
    }


if __name__ == "__main__":
    sys.exit(main())
