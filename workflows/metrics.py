"""The core's Prometheus series (prometheus_client), defined once here.

Ingest counts and times what it stored once its transaction committed (``workflows.ingest``);
the outbox's counts are read at scrape time by ``OutboxCollector``, one grouped ``COUNT``
per scrape and never per request. ``config.metrics`` serves them at ``/metrics``
(docs/architecture.md, "Operations").
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable, Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from workflows.models import OutboxCommand

log = logging.getLogger(__name__)

EVENTS_INGESTED = Counter(
    "taskinbox_events_ingested",
    "Events stored by ingest (duplicates left out), by event type.",
    ["type"],
)
INGEST_SECONDS = Histogram(
    "taskinbox_ingest_seconds",
    "Time to validate, store and fold one ingested batch, in seconds.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# The outbox states that are not delivered, each a series even when it counts nothing.
OUTBOX_STATES = (
    OutboxCommand.Status.PENDING,
    OutboxCommand.Status.FAILED,
    OutboxCommand.Status.DEAD,
)


def record_ingest(types: Iterable[str], seconds: float) -> None:
    """One committed batch: its stored events by type, and how long it took."""
    for type_name, count in Tally(types).items():
        EVENTS_INGESTED.labels(type=type_name).inc(count)
    INGEST_SECONDS.observe(seconds)


class OutboxCollector:
    """``taskinbox_outbox_commands{state=...}``: commands not delivered, counted at scrape
    time (one grouped ``COUNT`` on the ``status`` index). With the database unreachable the
    series is left out of that scrape (``/readyz`` says why) rather than failing it."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = (
                OutboxCommand.objects.filter(status__in=OUTBOX_STATES)
                .order_by()
                .values_list("status")
                .annotate(n=Count("id"))
            )
            counts = dict(rows)
        except DatabaseError:
            log.warning("outbox counts for /metrics failed", exc_info=True)
            return
        family = GaugeMetricFamily(
            "taskinbox_outbox_commands",
            "Outbox commands not delivered to the engine, by state.",
            labels=["state"],
        )
        for state in OUTBOX_STATES:
            family.add_metric([str(state)], counts.get(state, 0))
        yield family
