"""``/metrics`` for Prometheus: django-prometheus' request series, the core's and the live
layer's own (``workflows.metrics``, ``live.metrics``), and the outbox counts read at scrape
time.

Who may read it: metrics tell volumes (events, sockets, failures), so only a client address
in ``METRICS_ALLOWED_IPS`` (addresses or networks; the address as ``config.security.client_ip``
reads it) or a request carrying ``Authorization: Bearer <METRICS_TOKEN>``; anyone else gets
a 404, as for any page they may not see.

Several server processes: each has its own counters. With ``PROMETHEUS_MULTIPROC_DIR`` set
(before the processes start; an empty directory shared by the processes of one host),
prometheus_client keeps them in files there and a scrape of any process adds them all up.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import os
import re
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, Metric, multiprocess
from prometheus_client.exposition import choose_encoder

import live.metrics  # noqa: F401  (its series exist before any socket opens in this process)
from config.security import client_ip
from workflows.metrics import OutboxCollector

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(s, strict=False) for s in spec)


def may_read(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    address = client_ip(request)
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def multiproc_dir() -> str | None:
    # Only the current spelling (prometheus_client still reads the old lower-case one).
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Default:
    """This process's own registry, as one collector of the scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def forget_dead_processes(path: str) -> None:
    """A live gauge (the open sockets) counts running processes only. uvicorn's workers end
    without a hook to call ``mark_process_dead`` (multiprocessing skips atexit), so each
    scrape drops the live gauges of the processes of this host that are gone."""
    pids = {int(m.group(1)) for name in os.listdir(path) if (m := _LIVE_GAUGE_FILE.fullmatch(name))}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, another user's


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    path = multiproc_dir()
    if path:
        forget_dead_processes(path)
        multiprocess.MultiProcessCollector(registry, path)
    else:
        registry.register(_Default())
    registry.register(OutboxCollector())
    return registry


@require_safe
@never_cache
@login_not_required
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_read(request):
        raise Http404
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
