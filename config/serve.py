"""``make serve-prod``: the production topology in one command (docs/deployment.md).

    .venv/bin/python -m config.serve

Reads WEB_CONCURRENCY (server processes; default: the number of cores), HOST and PORT
(default 127.0.0.1:8000), FORWARDED_ALLOW_IPS (unset: uvicorn ignores X-Forwarded-* and the
app alone reads them, per DJANGO_PROXY_COUNT and DJANGO_HTTPS) and GRACEFUL_TIMEOUT (seconds
a stopping server waits for its requests and sockets; default 10), plus every setting of
config/settings.py (DATABASE_URL, REDIS_URL, ...).

Before anything starts it refuses, with a message saying what to do and a non-zero exit:

- more than one server process on the in-memory channel layer (no REDIS_URL): a broadcast
  would reach only the sockets of the process that sent it;
- OUTBOX_EMBEDDED_WORKER=1: the worker loop would run in every server process;
- a database that does not answer, or migrations not applied (``manage.py migrate``);
- a Redis that does not answer.

Several processes on SQLite only get a warning: WAL lets them read at once and IMMEDIATE
transactions with a 20 s busy timeout queue their writes, so it is correct, but writes are
one at a time across all processes (PostgreSQL for more).

Then it starts, and supervises:

- ``uvicorn config.asgi:application --workers N``: uvicorn's own process manager, which
  restarts a server process that dies; if uvicorn itself ends, so does this launcher (with
  its exit status), and the service manager restarts the lot;
- one ``manage.py run_worker`` (outbox commands, emails, digests), restarted with a backoff
  (1 s doubling to 30 s, back to 1 s after a minute up) whenever it exits.

SIGTERM or SIGINT stops both (uvicorn finishes its requests within GRACEFUL_TIMEOUT) and
kills whatever is still running GRACEFUL_TIMEOUT + 5 s later. On Linux each child also gets
SIGTERM if the launcher itself is killed (PR_SET_PDEATHSIG). With PROMETHEUS_MULTIPROC_DIR
set, the directory is created and emptied before the servers start.

A module rather than a management command: the launcher must decide the environment of its
children (and check OUTBOX_EMBEDDED_WORKER) before Django loads, since loading the apps
starts the embedded worker and, with PROMETHEUS_MULTIPROC_DIR, prometheus_client's files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import env as shared_env

ROOT = Path(__file__).resolve().parents[1]
APP = "config.asgi:application"

# sysexits.h: a configuration the operator must change (systemd: RestartPreventExitStatus),
# and a service this one needs that does not answer (worth restarting later).
EX_CONFIG = 78
EX_UNAVAILABLE = 69

WORKER_BACKOFF_FIRST = 1.0
WORKER_BACKOFF_MAX = 30.0
WORKER_STEADY_AFTER = 60.0  # seconds up after which a restart backs off from the start again


class Refused(Exception):
    def __init__(self, message: str, status: int = EX_CONFIG) -> None:
        super().__init__(message)
        self.status = status


def say(message: str) -> None:
    print(f"serve-prod: {message}", file=sys.stderr, flush=True)


def env_int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    try:
        return shared_env.env_int(env, name, default, minimum)
    except ValueError as exc:
        raise Refused(f"{exc}.") from None


@dataclass(frozen=True)
class Plan:
    workers: int
    host: str
    port: int
    graceful: int
    forwarded_allow_ips: str | None
    multiproc_dir: str | None
    env: dict[str, str] = field(repr=False)

    def web_command(self) -> list[str]:
        proxy = (
            ["--proxy-headers", "--forwarded-allow-ips", self.forwarded_allow_ips]
            if self.forwarded_allow_ips
            else ["--no-proxy-headers"]
        )
        return [
            sys.executable,
            "-m",
            "uvicorn",
            APP,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *proxy,
            "--ws-per-message-deflate",
            "false",
            "--timeout-graceful-shutdown",
            str(self.graceful),
        ]

    def worker_command(self) -> list[str]:
        return [sys.executable, str(ROOT / "manage.py"), "run_worker"]


def read_environment(env: dict[str, str]) -> Plan:
    """What the environment asks for; refusals that need no Django."""
    if env.get("OUTBOX_EMBEDDED_WORKER", "") == "1":
        raise Refused(
            "OUTBOX_EMBEDDED_WORKER=1 would run the worker loop in every server process; "
            "serve-prod runs one worker process of its own. Unset OUTBOX_EMBEDDED_WORKER."
        )
    workers = env_int(env, "WEB_CONCURRENCY", os.cpu_count() or 1)
    port = env_int(env, "PORT", 8000)
    if port > 65535:
        raise Refused(f"PORT must be at most 65535, not {port}.")
    graceful = env_int(env, "GRACEFUL_TIMEOUT", 10)
    child_env = dict(env)
    child_env["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE") or "config.settings"
    child_env.pop("OUTBOX_EMBEDDED_WORKER", None)
    child_env["WEB_CONCURRENCY"] = str(workers)
    return Plan(
        workers=workers,
        host=env.get("HOST", "").strip() or "127.0.0.1",
        port=port,
        graceful=graceful,
        forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", "").strip() or None,
        multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None,
        env=child_env,
    )


def check_django(plan: Plan) -> None:
    """The refusals that need the settings and the database; closes its connections."""
    import django
    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    os.environ["DJANGO_SETTINGS_MODULE"] = plan.env["DJANGO_SETTINGS_MODULE"]
    django.setup()
    from config import health

    backend = str(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))
    if backend == "channels.layers.InMemoryChannelLayer" and plan.workers > 1:
        raise Refused(
            f"WEB_CONCURRENCY={plan.workers} with the in-memory channel layer: live updates "
            "would not cross processes (a change made through one server process would not "
            "reach the sockets held by the others). Set REDIS_URL (e.g. "
            "redis://127.0.0.1:6379/0) for the Redis channel layer, or WEB_CONCURRENCY=1."
        )
    database = settings.DATABASES[DEFAULT_DB_ALIAS]
    if database["ENGINE"].endswith("sqlite3") and plan.workers > 1:
        say(
            f"warning: {plan.workers} processes on SQLite ({database['NAME']}): correct (WAL, "
            "queued write transactions), but writes go one at a time across all of them; "
            "use PostgreSQL (DATABASE_URL) for more than a small team."
        )
    try:
        found = health.check_database()
        if not found["ok"]:
            raise Refused(
                f"the database does not answer ({found['reason']}); check DATABASE_URL.",
                EX_UNAVAILABLE,
            )
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
            more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
            raise Refused(
                f"{len(pending)} migration(s) not applied ({names}{more}). Run "
                "`.venv/bin/python manage.py migrate` first (after a backup: docs/deployment.md)."
            )
    finally:
        connections.close_all()
    layer = health.check_channel_layer()
    if not layer["ok"]:
        raise Refused(
            f"the channel layer does not answer ({layer['reason']}); check REDIS_URL.",
            EX_UNAVAILABLE,
        )
    if plan.workers > 1 and not plan.multiproc_dir:
        say(
            "note: PROMETHEUS_MULTIPROC_DIR is unset, so /metrics shows only the process "
            "that answers the scrape."
        )


def empty_multiproc_dir(path: str) -> None:
    """prometheus_client's multiprocess mode: one empty directory when the servers start."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.glob("*.db"):
        entry.unlink()


def _die_with_parent() -> None:
    """In a child, before it runs: SIGTERM when the launcher dies, however it dies (Linux's
    PR_SET_PDEATHSIG), so a killed launcher leaves no server or worker behind."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stopping = threading.Event()
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_started = 0.0
        self.worker_backoff = WORKER_BACKOFF_FIRST
        self.worker_due = 0.0  # when a dead worker is started again

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        linux = sys.platform.startswith("linux")
        return subprocess.Popen(
            command, cwd=ROOT, env=self.plan.env, preexec_fn=_die_with_parent if linux else None
        )

    def start_worker(self) -> None:
        self.worker = self._spawn(self.plan.worker_command())
        self.worker_started = time.monotonic()
        say(f"worker started (pid {self.worker.pid})")

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.web = self._spawn(self.plan.web_command())
        say(
            f"{self.plan.workers} server process(es) on http://{self.plan.host}:{self.plan.port} "
            f"(uvicorn pid {self.web.pid})"
        )
        self.start_worker()
        status = 0
        while not self.stopping.wait(0.2):
            if (code := self.web.poll()) is not None:
                say(f"uvicorn exited with status {code}; stopping")
                # A signal's death as a shell reports it (128 + its number); never 0.
                status = 128 - code if code < 0 else code or 1
                break
            self.watch_worker()
        self.shutdown()
        return status

    def watch_worker(self) -> None:
        now = time.monotonic()
        if self.worker is not None:
            code = self.worker.poll()
            if code is None:
                return
            if now - self.worker_started >= WORKER_STEADY_AFTER:
                self.worker_backoff = WORKER_BACKOFF_FIRST
            self.worker_due = now + self.worker_backoff
            say(f"worker exited with status {code}; starting it again in {self.worker_backoff:g} s")
            self.worker_backoff = min(self.worker_backoff * 2, WORKER_BACKOFF_MAX)
            self.worker = None
        elif now >= self.worker_due:
            self.start_worker()

    def shutdown(self) -> None:
        say("stopping")
        terminate(self.web)
        terminate(self.worker)
        deadline = time.monotonic() + self.plan.graceful + 5
        for process in (self.web, self.worker):
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"pid {process.pid} still running after the grace period; killing it")
                process.kill()
                process.wait()
        say("stopped")


def main(env: dict[str, str] | None = None) -> int:
    environment = dict(os.environ if env is None else env)
    try:
        plan = read_environment(environment)
        # prometheus_client reads the variable at import; this process serves nothing.
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        os.environ.pop("OUTBOX_EMBEDDED_WORKER", None)
        check_django(plan)
    except Refused as refusal:
        say(f"refusing to start: {refusal}")
        return refusal.status
    if plan.multiproc_dir:
        empty_multiproc_dir(plan.multiproc_dir)
    return Supervisor(plan).run()


if __name__ == "__main__":
    sys.exit(main())
