"""``make serve-prod`` (config/serve.py): the refusals, and the topology it starts and stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config import serve
from tests.support.server import ROOT, Servers, free_port

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "REDIS_", "PROMETHEUS_", "WEB_", "OUTBOX_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def test_make_serve_prod_refuses_the_in_memory_layer_with_more_than_one_process(
    tmp_path: Path,
) -> None:
    port = free_port()
    done = subprocess.run(
        ["make", "--no-print-directory", "serve-prod"],
        cwd=ROOT,
        env=base_env(tmp_path, WEB_CONCURRENCY="2", PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to start: WEB_CONCURRENCY=2 with the in-memory channel layer" in done.stderr
    assert "live updates would not cross processes" in done.stderr
    assert "Set REDIS_URL" in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout


def test_unapplied_migrations_are_refused_with_what_to_run(tmp_path: Path) -> None:
    # One process is fine on the in-memory layer: the next check is the database's.
    done = subprocess.run(
        [sys.executable, "-m", "config.serve"],
        cwd=ROOT,
        env=base_env(tmp_path, WEB_CONCURRENCY="1", PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == serve.EX_CONFIG, done.stderr
    assert "migration(s) not applied (" in done.stderr
    assert "manage.py migrate` first" in done.stderr
    assert "in-memory" not in done.stderr


def closed_port() -> int:
    return free_port()  # free now: nothing listens there


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("database", "the database does not answer (database round trip failed: OperationalError)"),
        ("redis", "the channel layer does not answer (redis ping failed: ConnectionError)"),
    ],
)
def test_a_database_or_redis_that_does_not_answer_is_refused_to_retry_later(
    what: str, message: str, tmp_path: Path
) -> None:
    extra = {"WEB_CONCURRENCY": "1", "PORT": str(free_port())}
    if what == "database":
        extra["DATABASE_URL"] = f"postgres://nobody@127.0.0.1:{closed_port()}/inbox"
    else:
        extra["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env=base_env(tmp_path, **extra),
            check=True,
            capture_output=True,
            timeout=120,
        )
    done = subprocess.run(
        [sys.executable, "-m", "config.serve"],
        cwd=ROOT,
        env=base_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == serve.EX_UNAVAILABLE, done.stderr
    assert f"refusing to start: {message}" in done.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OUTBOX_EMBEDDED_WORKER": "1"}, "OUTBOX_EMBEDDED_WORKER=1 would run the worker loop"),
        ({"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY must be a whole number, not 'two'"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be at least 1, not 0"),
        ({"PORT": "70000"}, "PORT must be at most 65535"),
        ({"GRACEFUL_TIMEOUT": "-1"}, "GRACEFUL_TIMEOUT must be at least 1"),
    ],
)
def test_bad_environments_are_refused_before_django_loads(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(serve.Refused, match=message.replace("(", r"\(")) as refused:
        serve.read_environment(env)
    assert refused.value.status == serve.EX_CONFIG


def test_the_plan_reads_the_environment() -> None:
    plan = serve.read_environment(
        {"WEB_CONCURRENCY": "3", "HOST": "0.0.0.0", "PORT": "9000", "OUTBOX_EMBEDDED_WORKER": "0"}
    )
    assert (plan.workers, plan.host, plan.port, plan.graceful) == (3, "0.0.0.0", 9000, 10)
    web = plan.web_command()
    assert web[web.index("--workers") + 1] == "3"
    assert "--no-proxy-headers" in web  # the app alone reads X-Forwarded-* by default
    assert web[web.index("--ws-per-message-deflate") + 1] == "false"
    assert plan.env["DJANGO_SETTINGS_MODULE"] == "config.settings"
    assert "OUTBOX_EMBEDDED_WORKER" not in plan.env
    default = serve.read_environment({"FORWARDED_ALLOW_IPS": "10.0.0.5"})
    assert default.workers == (os.cpu_count() or 1)
    assert (default.host, default.port) == ("127.0.0.1", 8000)
    assert default.web_command()[-6:-4] == ["--forwarded-allow-ips", "10.0.0.5"]


# The running topology ---------------------------------------------------------------------


def redis_answers() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def descendants(pid: int) -> dict[int, str]:
    """Every living process under ``pid`` (from /proc), with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                try:
                    cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
                except OSError:
                    continue
                found[child] = cmdline.replace(b"\0", b" ").decode(errors="replace")
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    world = Servers(tmp_path, prefix="serveprod")  # a fresh database, migrated
    yield world
    world.close()


@pytest.mark.skipif(not redis_answers(), reason=f"no Redis answers at {REDIS_URL}")
def test_serve_prod_starts_the_topology_restarts_the_worker_and_stops_cleanly(
    servers: Servers, tmp_path: Path
) -> None:
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_99999999.db"
    stale.write_bytes(b"left by a previous deploy")
    env = {
        **{k: v for k, v in servers.env.items() if not k.startswith(("WEB_", "OUTBOX_"))},
        "WEB_CONCURRENCY": "2",
        "PORT": str(port),
        "REDIS_URL": REDIS_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GRACEFUL_TIMEOUT": "3",
    }
    log = (tmp_path / "serve.log").open("w+")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    children: dict[int, str] = {}
    try:

        def ready() -> bool:
            assert launcher.poll() is None, Path(log.name).read_text()
            try:
                return get(base + "/readyz")[0] == 200
            except OSError:
                return False

        wait_for(ready, 60, "/readyz")
        status, body = get(base + "/readyz")
        assert status == 200
        assert body["checks"]["channel_layer"] == {"ok": True, "backend": "redis"}
        assert get(base + "/healthz") == (200, {"status": "ok"})
        assert not stale.exists()  # emptied before the servers started

        children = descendants(launcher.pid)
        servers_up = [p for p, cmd in children.items() if "multiprocessing.spawn" in cmd]
        workers = [p for p, cmd in children.items() if cmd.rstrip().endswith("run_worker")]
        assert len(servers_up) == 2, children
        assert len(workers) == 1, children

        # The worker dies: the launcher starts another one (after a 1 s backoff).
        os.kill(workers[0], signal.SIGKILL)

        def new_worker() -> bool:
            found = [
                p for p, c in descendants(launcher.pid).items() if c.rstrip().endswith("run_worker")
            ]
            return bool(found) and found != workers

        wait_for(new_worker, 15, "the worker to be started again")
        children = descendants(launcher.pid)
        assert get(base + "/healthz")[0] == 200
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            code = launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in descendants(launcher.pid):
                os.kill(pid, signal.SIGKILL)
            launcher.kill()
            raise
        output = Path(log.name).read_text()
        log.close()
    assert code == 0, output
    assert "worker exited with status -9; starting it again in 1 s" in output
    # Nothing left behind: every server process, uvicorn's manager and the worker are gone.
    try:
        wait_for(lambda: not any(alive(pid) for pid in children), 5, "no orphan processes")
    finally:
        kill_left(children)
    assert "killing it" not in output, output


def test_run_worker_refuses_beside_the_embedded_worker(settings: Any) -> None:
    from django.core.management import CommandError, call_command

    settings.OUTBOX_EMBEDDED_WORKER = True
    with pytest.raises(CommandError, match="OUTBOX_EMBEDDED_WORKER=1 already runs this loop"):
        call_command("run_worker")
    settings.OUTBOX_EMBEDDED_WORKER = False
    with pytest.raises(CommandError, match="--idle must be a positive number"):
        call_command("run_worker", idle=0)


def start_one_process(servers: Servers, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The launcher with one server process on the in-memory layer, once it is ready."""
    port = free_port()
    env = {
        **{k: v for k, v in servers.env.items() if not k.startswith(("WEB_", "OUTBOX_", "REDIS_"))},
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
        "GRACEFUL_TIMEOUT": "3",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "config.serve"], cwd=ROOT, env=env, stdout=log, stderr=log
        )

    def ready() -> bool:
        assert launcher.poll() is None, log_path.read_text()
        try:
            return get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, 60, "/readyz")
        wait_for(lambda: len(descendants(launcher.pid)) == 2, 10, "the server and the worker")
    except BaseException:
        launcher.kill()
        raise
    return launcher, str(log_path)


def test_when_uvicorn_itself_dies_the_launcher_stops_the_worker_and_fails(
    servers: Servers, tmp_path: Path
) -> None:
    launcher, log = start_one_process(servers, tmp_path)
    children = descendants(launcher.pid)
    (web,) = [p for p, cmd in children.items() if "uvicorn" in cmd]
    os.kill(web, signal.SIGKILL)
    try:
        code = launcher.wait(timeout=20)
    finally:
        launcher.kill()
    output = Path(log).read_text()
    try:
        wait_for(lambda: not any(alive(pid) for pid in children), 5, "the worker to stop")
    finally:
        kill_left(children)
    assert code == 128 + signal.SIGKILL, output  # as a shell says it; the service manager restarts
    assert "uvicorn exited with status -9; stopping" in output


def test_a_killed_launcher_leaves_no_process_behind(servers: Servers, tmp_path: Path) -> None:
    launcher, _ = start_one_process(servers, tmp_path)
    children = descendants(launcher.pid)
    launcher.kill()
    launcher.wait(timeout=10)
    try:
        wait_for(lambda: not any(alive(pid) for pid in children), 15, "the children to stop")
    finally:
        kill_left(children)


def kill_left(pids: dict[int, str]) -> None:
    """A failing test still cleans up after itself."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
