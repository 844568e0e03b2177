"""The live layer's Prometheus series (prometheus_client), defined once here.

``taskinbox_websockets_open`` counts accepted sockets (``live.consumers``); with
``PROMETHEUS_MULTIPROC_DIR`` set it is the sum over the running server processes.
``taskinbox_live_fanout_seconds`` is the delay from a broadcast leaving the ingesting process
(``live.broadcast.plan`` stamps ``sent_at``, wall-clock seconds) to a socket having sent what
it made of it; sockets of every process observe it, so clocks must agree across hosts.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Gauge, Histogram

WEBSOCKETS_OPEN = Gauge(
    "taskinbox_websockets_open",
    "Live websockets open (accepted and not yet closed).",
    multiprocess_mode="livesum",
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
