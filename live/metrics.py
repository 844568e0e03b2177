"""The live layer's Prometheus series (prometheus_client), defined once here.

``taskinbox_websockets_open`` counts accepted sockets (``live.consumers``); with
``PROMETHEUS_MULTIPROC_DIR`` set it is the sum over the running server processes.
``taskinbox_live_fanout_seconds`` is the delay from a broadcast leaving the ingesting process
(``live.broadcast.plan`` stamps ``sent_at``, wall-clock seconds) to a socket having sent what
it made of it; sockets of every process observe it, so clocks must agree across hosts.
``taskinbox_live_broadcast_failures_total`` counts broadcast messages that did not reach the
channel layer (Redis down: the commit stands, pages re-sync when their sockets reconnect);
``taskinbox_live_socket_layer_errors_total`` counts sockets closed because the channel layer
failed under them (they reconnect).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

WEBSOCKETS_OPEN = Gauge(
    "taskinbox_websockets_open",
    "Live websockets open (accepted and not yet closed).",
    multiprocess_mode="livesum",
)
LIVE_BROADCAST_FAILURES = Counter(
    "taskinbox_live_broadcast_failures",
    "Live broadcast messages (one per group) that could not be sent to the channel layer.",
)
LIVE_SOCKET_LAYER_ERRORS = Counter(
    "taskinbox_live_socket_layer_errors",
    "Live sockets closed (1013, try again later) because the channel layer failed.",
)
LIVE_FANOUT_SECONDS = Histogram(
    "taskinbox_live_fanout_seconds",
    "Delay from a live broadcast being sent to a socket having handled it, in seconds.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_fanout(message: Any) -> None:
    """Observe the delay of a broadcast that carries ``sent_at`` (older senders' do not)."""
    sent_at = message.get("sent_at") if isinstance(message, dict) else None
    if isinstance(sent_at, int | float) and not isinstance(sent_at, bool):
        # Another host's clock may run a little ahead: never a negative delay.
        LIVE_FANOUT_SECONDS.observe(max(0.0, time.time() - sent_at))
