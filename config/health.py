"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can serve: the database
answers, every migration is applied, the channel layer is reachable).

Both are public GETs without a session, a database query (``/healthz``) or a template; a
load balancer or Kubernetes calls them every few seconds. docs/architecture.md, "Operations".
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)

# Seconds a probe waits for Redis; an orchestrator's probe itself times out after 1 s or so.
CHANNEL_LAYER_TIMEOUT = 1.0

Check = dict[str, Any]  # {"ok": bool, "reason": str when not ok, ...}

# Set once every migration was found applied: a process's code cannot gain migrations, and
# loading the migration graph is the costly part of the check.
_migrated = False


@require_safe
@never_cache
@login_not_required
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
@login_not_required
def readyz(request: HttpRequest) -> JsonResponse:
    database = check_database()
    checks = {
        "database": database,
        "migrations": check_migrations()
        if database["ok"]
        else {"ok": False, "reason": "not checked: the database is unreachable"},
        "channel_layer": check_channel_layer(),
    }
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _failed(what: str, exc: BaseException) -> Check:
    # The probe is public: the reason names the kind of failure; the log has the details.
    log.warning("readiness: %s failed: %r", what, exc)
    return {"ok": False, "reason": f"{what} failed: {type(exc).__name__}"}


def check_database() -> Check:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _failed("database round trip", exc)
    return {"ok": True}


def check_migrations() -> Check:
    global _migrated
    if _migrated:
        return {"ok": True}
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return _failed("reading the migrations", exc)
    if plan:
        return {"ok": False, "reason": f"{len(plan)} migrations not applied"}
    _migrated = True
    return {"ok": True}


def check_channel_layer() -> Check:
    """The in-memory layer lives in this process: reachable while it answers. Redis is
    pinged with a plain (synchronous) client from the layer's own host settings, so the
    check is the same under ASGI and WSGI and touches no event loop's connection pool."""
    layer: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    backend = str(layer.get("BACKEND", ""))
    if backend == "channels.layers.InMemoryChannelLayer":
        return {"ok": True, "backend": "in-memory"}
    if not backend.startswith(("channels_redis.", "live.redis_layer.")):
        return {"ok": True, "backend": backend, "note": "not checked: unknown backend"}
    try:
        for host in layer.get("CONFIG", {}).get("hosts", []):
            client = _redis_client(host)
            try:
                client.ping()
            finally:
                client.close()
    except Exception as exc:
        return _failed("redis ping", exc)
    return {"ok": True, "backend": "redis"}


def _redis_client(host: Any) -> Any:
    import redis

    from live.redis_layer import POOL_OPTIONS

    timeouts: dict[str, Any] = {
        "socket_connect_timeout": CHANNEL_LAYER_TIMEOUT,
        "socket_timeout": CHANNEL_LAYER_TIMEOUT,
    }
    if isinstance(host, str):
        return redis.Redis.from_url(host, **timeouts)
    if isinstance(host, dict):
        address = host.get("address")
        options = {
            k: v
            for k, v in host.items()
            # Not the layer's pool options (live.redis_layer.POOL_OPTIONS) nor keepalive.
            if k not in ("address", "socket_keepalive", *POOL_OPTIONS, *timeouts)
        }
        if isinstance(address, str):
            return redis.Redis.from_url(address, **options, **timeouts)
        host = address
    hostname, port = host
    return redis.Redis(host=hostname, port=port, **timeouts)


def reset() -> None:
    """Forget the migrations' answer (tests)."""
    global _migrated
    _migrated = False
