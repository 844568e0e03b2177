"""A TCP forwarder on 127.0.0.1 to put between the dashboard and an engine, for the fault
scenarios: ``down()`` closes the port (connections refused, open ones cut), ``up()`` listens
again on the same port, and ``lose_answers(n)`` lets the next ``n`` connections reach the
engine but cuts them before its answer gets back (an acknowledgement lost on the way: the
engine applied the command, the sender does not know).

Plain standard library and threads, like tests/support/server.py, so bench scripts can use it.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from tests.support.server import free_port


class Proxy:
    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._to_lose = 0
        self.lost_answers = 0
        self.connections = 0
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones (no answer reaches anyone)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
            self._open.clear()

    def lose_answers(self, count: int) -> None:
        with self._lock:
            self._to_lose = count

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self.connections += 1
                lose = self._to_lose > 0
                if lose:
                    self._to_lose -= 1
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, lose), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, lose: bool) -> None:
        try:
            while data := source.recv(65536):
                if lose:
                    # The engine answered: the answer goes nowhere, the connection is cut.
                    with self._lock:
                        self.lost_answers += 1
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(target)
            _close(source)
            _close(target)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
