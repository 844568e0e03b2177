"""HTTP serving benchmark: requests per second of a 404 and of the sign-in page, through
``make serve``'s app and the alternatives, side by side in one run.

Servers (each one process, on a fresh migrated SQLite file, DEBUG off, the project's settings):

- ``serve``: ``uvicorn config.asgi:application`` as ``make serve`` runs it (HTTP through
  Django's WSGI handler in a2wsgi's thread pool, websockets through Channels);
- ``asgi``: ``uvicorn bench.asgi_django:application``, the design before: HTTP through
  Django's own ASGI handler;
- ``gunicorn``: ``gunicorn config.wsgi:application``, one sync worker: Django's WSGI handler
  and nothing else, but the sync worker closes the connection after each response, so its
  clients reconnect for every request (the others keep their connections alive);
- ``gunicorn-gthread``: the same with one ``gthread`` worker of 10 threads, which keeps
  connections alive. The reference for the target is the faster of the two, page by page.

Load: ``--connections`` clients (default 8), spread over ``--processes`` load-generating
processes (default 2), each a thread with one ``http.client`` connection sending GETs one
after the other for ``--seconds`` (default 8) after a warm-up of 2 s; reconnecting whenever
the server closes. Every answer's status is checked (404, 200). Rounds (``--rounds``,
default 2) alternate the servers, so a change in the machine's load falls on all of them;
the table gives each server's best round and its ratio to the faster gunicorn.

    .venv/bin/python bench/serving.py [--seconds 8] [--connections 8] [--rounds 2]

The load generator shares the 2 cores with the server: the figures are relative, not the
server's ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.server import free_port, stop, uvicorn_command, wait_until_up  # noqa: E402

PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

PAGES = {"404": ("/no-such-page/", 404), "sign-in": ("/accounts/login/", 200)}


@dataclass(frozen=True)
class Design:
    name: str
    what: str

    def command(self, port: int) -> list[str]:
        if self.name.startswith("gunicorn"):
            threads = (
                ["--worker-class", "gthread", "--threads", "10"] if "gthread" in self.name else []
            )
            return [
                GUNICORN,
                *threads,
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--log-level",
                "warning",
                # gunicorn's advice where /tmp may be a slow (overlay) file system: the
                # worker's heartbeat file is touched on every request.
                "--worker-tmp-dir",
                "/dev/shm",
            ]
        app = {"serve": "config.asgi:application", "asgi": "bench.asgi_django:application"}
        options = ("--no-access-log", "--log-level", "warning", "--ws-per-message-deflate", "false")
        return uvicorn_command(port, *options, app=app[self.name])


DESIGNS = {
    "serve": Design("serve", "make serve: uvicorn, config.asgi (WSGI handler via a2wsgi)"),
    "asgi": Design("asgi", "uvicorn, Django's ASGI handler (bench/asgi_django.py)"),
    "gunicorn": Design("gunicorn", "gunicorn, config.wsgi, 1 sync worker"),
    "gunicorn-gthread": Design(
        "gunicorn-gthread", "gunicorn, config.wsgi, 1 gthread worker, 10 threads (keep-alive)"
    ),
}


def server_env(db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-not-secret-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
        "OUTBOX_EMBEDDED_WORKER": "",
    }


@contextmanager
def serving(design: Design, db: Path) -> Iterator[int]:
    """The server on a free port; its output (Django logs each 404) to a file beside ``db``,
    shown if it fails to start."""
    port = free_port()
    log = db.with_name(f"{design.name}.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            design.command(port), cwd=ROOT, env=server_env(db), stdout=out, stderr=out
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/accounts/login/", proc, timeout=30)
            yield port
        except RuntimeError:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            stop(proc, timeout=10)


# --- the load generator ----------------------------------------------------------------------


def _client(port: int, path: str, status: int, until: float, counts: list[int]) -> None:
    """GET ``path`` until ``until`` on one connection (a new one when the server closed it)."""
    conn: http.client.HTTPConnection | None = None
    done = 0
    while time.monotonic() < until:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path, headers={"Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            conn = None
            continue
        if response.status != status:
            raise RuntimeError(f"GET {path}: {response.status}, expected {status}")
        done += 1
        if response.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    counts.append(done)


def _process(port: int, path: str, status: int, threads: int, start: float, end: float) -> int:
    """One load process: warm up until ``start``, count the requests done until ``end``."""
    warm: list[int] = []
    counts: list[int] = []
    workers = [
        threading.Thread(target=_client, args=(port, path, status, start, warm))
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    workers = [
        threading.Thread(target=_client, args=(port, path, status, end, counts))
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if len(counts) != threads:
        raise RuntimeError("a load thread failed")
    return sum(counts)


def load(
    port: int, path: str, status: int, connections: int, processes: int, seconds: float
) -> float:
    """Requests per second over ``seconds``, after 2 s of warm-up."""
    start = time.monotonic() + 2.0
    end = start + seconds
    per = [connections // processes + (i < connections % processes) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        done = pool.starmap(_process, [(port, path, status, n, start, end) for n in per if n])
    return sum(done) / seconds


# --- the run ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="Measured seconds per page.")
    parser.add_argument("--connections", type=int, default=8, help="Concurrent connections.")
    parser.add_argument("--processes", type=int, default=2, help="Load-generating processes.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--designs",
        default="serve,asgi,gunicorn,gunicorn-gthread",
        help="Comma-separated, of: " + ", ".join(DESIGNS),
    )
    parser.add_argument("--target", type=float, default=0.60, help="serve / gunicorn at least.")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.designs.split(",") if n.strip()]
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        parser.error(f"unknown design(s): {', '.join(unknown)}; known: {', '.join(DESIGNS)}")
    if args.connections < 1 or args.processes < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--connections, --processes, --rounds must be >= 1 and --seconds > 0")

    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.python_version()} · "
        f"{os.cpu_count()} cores · load {_load()} · {args.connections} connections over "
        f"{args.processes} processes · {args.seconds:g} s per page · {args.rounds} rounds"
    )
    best: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        db = Path(tmp) / "http.sqlite3"
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=server_env(db),
            check=True,
        )
        for round_ in range(1, args.rounds + 1):
            for name in names:
                design = DESIGNS[name]
                with serving(design, db) as port:
                    for page, (path, status) in PAGES.items():
                        rate = load(
                            port, path, status, args.connections, args.processes, args.seconds
                        )
                        best[name, page] = max(best.get((name, page), 0.0), rate)
                        print(f"round {round_}  {name:<9} {page:<8} {rate:>8,.0f} req/s")
    print(f"load average at the end: {_load()}\n")
    print("| server | " + " | ".join(f"{p} req/s" for p in PAGES) + " |")
    print("|---|" + "---:|" * len(PAGES))
    # The reference: the faster gunicorn of the run, page by page.
    references = [n for n in names if n.startswith("gunicorn")]
    ref = {p: max((best[n, p] for n in references), default=0.0) for p in PAGES}
    for name in names:
        cells = []
        for page in PAGES:
            rate = best[name, page]
            cells.append(f"{rate:,.0f}" + (f" ({rate / ref[page]:.0%})" if ref[page] else ""))
        print(f"| {DESIGNS[name].what} | " + " | ".join(cells) + " |")
    if "serve" not in names or not references:
        return 0
    ok = True
    for page in PAGES:
        ratio = best["serve", page] / ref[page]
        met = ratio >= args.target
        ok = ok and met
        print(
            f"  {'met ' if met else 'MISSED'}  {page}: serve at {ratio:.0%} of the faster "
            f"gunicorn (target {args.target:.0%})"
        )
    return 0 if ok else 1


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
