"""An engine's command webhook on 127.0.0.1, for the outbox tests and bench/outbox.py: it
verifies each request with the adapter's own ``DashboardCommands.verify`` (docs/engines.md),
answers from a script (default: 200 applied) and remembers what it accepted and when."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from integrations.litestar_workflows import DashboardCommands


class CommandReceiver:
    def __init__(self, secret: str, *, port: int = 0, nodelay: bool = True) -> None:
        self.verifier = DashboardCommands(object(), secret=secret)
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.default: tuple[int, dict[str, Any]] = (200, {"status": "applied"})
        self.received: list[dict[str, Any]] = []
        self.received_at: dict[str, float] = {}  # command id -> time.perf_counter()
        self.headers: list[dict[str, str]] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the outbox's client uses it

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle and the
                # client's delayed ACK add 40 ms to every keep-alive request.
                if nodelay:
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                problem = receiver.verifier.verify(headers, raw)
                if problem:
                    receiver.refused.append(problem)
                    status, body = 401, {"error": problem}
                else:
                    command = json.loads(raw)
                    receiver.received_at[command["id"]] = time.perf_counter()
                    receiver.received.append(command)
                    receiver.headers.append(headers)
                    status, body = receiver.script.pop(0) if receiver.script else receiver.default
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/dashboard/commands"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def ids(self) -> list[str]:
        return [c["id"] for c in self.received]
