"""What a long run must keep flat, sampled every few seconds in a thread of the load driver:
each server process's resident memory and open file descriptors (psutil), the database's
connections (PostgreSQL's ``pg_stat_activity`` for the run's database), Redis' connected
clients (``INFO clients``) and the process tree's size.

``verdict`` compares the last third of the samples with the first third (after ``warmup``
seconds): a resource is flat when its mean grew by less than ``limit`` (10 %) or by less than
a small absolute slack (a few descriptors or connections come and go with the load).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

# Growth below these is noise whatever the percentage (a connection opened for a burst).
SLACK = {"rss_mb": 8.0, "fds": 8, "db_connections": 4, "redis_clients": 8, "processes": 0}


@dataclass
class Sampler:
    root_pid: int
    interval: float = 10.0
    database: str = ""  # a PostgreSQL database name on ``postgres_url``; "" for none
    postgres_url: str = ""
    redis_url: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def sample(self) -> dict[str, Any]:
        rss = fds = 0
        processes = 0
        try:
            root = psutil.Process(self.root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for process in tree:
            try:
                rss += process.memory_info().rss
                fds += process.num_fds()
                processes += 1
            except psutil.NoSuchProcess:
                continue
        return {
            "t": round(time.monotonic() - self._started, 1),
            "rss_mb": round(rss / 2**20, 1),
            "fds": fds,
            "processes": processes,
            "db_connections": self._db_connections(),
            "redis_clients": self._redis_clients(),
        }

    def _db_connections(self) -> int | None:
        if not self.database:
            return None
        import psycopg

        try:
            with psycopg.connect(f"{self.postgres_url.rstrip('/')}/postgres", autocommit=True) as c:
                row = c.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
        except psycopg.Error:
            return None
        return int(row[0]) if row else None

    def _redis_clients(self) -> int | None:
        if not self.redis_url:
            return None
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            try:
                return int(client.info("clients")["connected_clients"])
            finally:
                client.close()
        except redis.RedisError:
            return None


def verdict(
    samples: list[dict[str, Any]], warmup: float = 60.0, limit: float = 0.10
) -> dict[str, Any]:
    """Per resource: first-third and last-third means, peak, growth, flat or not."""
    kept = [s for s in samples if s["t"] >= warmup] or samples
    third = max(1, len(kept) // 3)
    out: dict[str, Any] = {"samples": len(kept)}
    for key in ("rss_mb", "fds", "db_connections", "redis_clients", "processes"):
        values = [s[key] for s in kept if s.get(key) is not None]
        if len(values) < 3:
            continue
        first, last = statistics.fmean(values[:third]), statistics.fmean(values[-third:])
        growth = (last - first) / first if first else 0.0
        out[key] = {
            "first": round(first, 1),
            "last": round(last, 1),
            "peak": max(values),
            "growth": round(growth, 3),
            "flat": growth < limit or (last - first) <= SLACK[key],
        }
    out["flat"] = all(v["flat"] for v in out.values() if isinstance(v, dict))
    return out
