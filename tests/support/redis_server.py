"""A redis-server of our own on a spare port of 127.0.0.1, for the fault tests and
bench/faults: stopped and started again at will, never the machine's Redis on 6379.
No persistence: a restart comes back empty, as a Redis that lost its memory would."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RedisServer:
    dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, tries: int = 3) -> None:
        """Start on ``port``; if another process took it meanwhile (parallel test workers),
        on another spare port, up to ``tries`` times. A restart keeps the port it had."""
        for attempt in range(tries):
            try:
                self._start()
                return
            except RuntimeError:
                if attempt == tries - 1:
                    raise
                self.port = free_port()

    def _start(self) -> None:
        if self.port == 6379:
            raise ValueError("not the machine's Redis: use a spare port")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
            ],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process = None

    def clients(self) -> list[dict[str, str]]:
        """CLIENT LIST, one dict per connection (``name``, ``cmd``, ``age``, ``idle``...)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"CLIENT LIST\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                data += chunk
                if not chunk or (data.startswith(b"$") and self._complete(data)):
                    break
        body = data.split(b"\r\n", 1)[1].decode()
        rows = [line for line in body.splitlines() if line.startswith("id=")]
        return [dict(p.split("=", 1) for p in row.split(" ") if "=" in p) for row in rows]

    @staticmethod
    def _complete(data: bytes) -> bool:
        header, _, rest = data.partition(b"\r\n")
        return len(rest) >= int(header[1:]) + 2

    def connections_by_name(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for client in self.clients():
            if client.get("cmd") == "client|list":
                continue  # this very query
            name = client.get("name", "")
            counts[name] = counts.get(name, 0) + 1
        return counts
