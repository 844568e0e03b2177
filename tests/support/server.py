"""Real uvicorn servers in subprocesses, for what needs ASGI end to end (websockets): the live
browser tests, the Redis test and the benchmarks. pytest-django's ``live_server`` is WSGI only.

Plain standard library, no Django or pytest, so bench scripts can import it too (with the
project root on ``sys.path``). The pytest fixture is ``uvicorn_servers`` in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
APP = "config.asgi:application"
# As `make serve`; the grace bound also keeps a stuck consumer from holding the shutdown
# (see bench/README.md, live section).
SERVE_OPTIONS = ("--ws-per-message-deflate", "false", "--timeout-graceful-shutdown", "5")


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if it is free, else any free port on 127.0.0.1."""
    with socket.socket() as s:
        if preferred is not None:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uvicorn_command(port: int, *options: str, app: str = APP) -> list[str]:
    return [UVICORN, app, "--host", "127.0.0.1", "--port", str(port), *options]


def wait_until_up(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    """Poll ``url`` until it answers (any HTTP status); raise if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if (process is not None and process.poll() is not None) or (
                time.monotonic() > deadline
            ):
                raise RuntimeError(f"uvicorn did not start ({url})") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def database_url(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A fresh database for the servers, and how to drop it afterwards: a SQLite file in
    ``tmp``, or a new PostgreSQL database next to DATABASE_URL's when that is PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'live.sqlite3'}", lambda: None
    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"test_live_{os.environ.get('TEST_DB_SUFFIX', '')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """``manage.py`` with ``args`` in ``env``; what it printed (raises if it failed)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=timeout,
    ).stdout.decode()


def print_result(result: Any, as_json: bool, ok_line: str) -> None:
    """A scenario's result (a dataclass with ``ok``) as JSON, or a line per field and a verdict."""
    from dataclasses import asdict

    if as_json:
        print(json.dumps({**asdict(result), "ok": result.ok}, indent=2))
        return
    for key, value in asdict(result).items():
        print(f"{key:36} {value}")
    print(ok_line if result.ok else "FAILED")


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# For ``manage.py shell -c`` set-up code: ``session(user)`` is the key of a session that
# signs ``user`` in, as the login page would make it (a cookie value for sockets and pages).
SESSION_FOR = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
def session(user):
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return s.session_key
"""


@dataclass
class Server:
    """One uvicorn process serving the project on 127.0.0.1; ``stop`` and ``start`` again to
    restart it on the same port (every socket drops)."""

    url: str
    env: dict[str, str]
    token: str
    port: int
    options: Sequence[str] = SERVE_OPTIONS
    process: subprocess.Popen[bytes] | None = None
    app: str = APP
    log: Path | None = None  # the server's output goes there (appended), else inherited

    def start(self) -> None:
        output = None if self.log is None else self.log.open("ab")
        try:
            self.process = subprocess.Popen(
                uvicorn_command(self.port, "--log-level", "warning", *self.options, app=self.app),
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
            )
        finally:
            if output is not None:
                output.close()
        wait_until_up(self.url + "/accounts/login/", self.process, timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + "/api/events",
            data=json.dumps(events).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def ingest_offline(self, events: list[dict[str, Any]]) -> None:
        """Ingest with no server running: what the sockets must catch up on."""
        code = (
            "import json, sys; from workflows.ingest import ingest_events; "
            "ingest_events(events=json.load(sys.stdin), source='test')"
        )
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            input=json.dumps(events).encode(),
            check=True,
        )


@dataclass
class Servers:
    """uvicorn processes sharing one fresh, migrated database and a channel-layer key prefix
    of their own (REDIS_URL passes through). ``setup`` runs code in ``manage.py shell`` on that
    database; ``start`` adds a server; ``close`` stops them all and drops the database."""

    tmp: Path
    prefix: str = "test"
    env: dict[str, str] = field(init=False)
    started: list[Server] = field(init=False, default_factory=list)
    _drop: Callable[[], None] = field(init=False)

    def __post_init__(self) -> None:
        url, self._drop = database_url(self.tmp)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "CHANNEL_LAYER_PREFIX": f"{self.prefix}-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
        }
        try:
            self.manage("migrate", "--noinput", "-v0")
        except BaseException:
            self._drop()
            raise

    def manage(self, *args: str, **env: str) -> str:
        return manage({**self.env, **env}, *args)

    def setup(self, code: str, **env: str) -> str:
        """Run ``code`` in the servers' database; return the last line it printed."""
        return self.manage("shell", "-c", code, **env).strip().splitlines()[-1]

    def start(self, token: str = "", app: str = APP, log: Path | None = None) -> Server:
        port = free_port()
        server = Server(
            url=f"http://127.0.0.1:{port}", env=self.env, token=token, port=port, app=app, log=log
        )
        self.started.append(server)
        server.start()
        return server

    def close(self) -> None:
        try:
            for server in self.started:
                server.stop()
        finally:
            self._drop()
