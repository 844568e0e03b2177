"""Delivering outbox commands to the engine (docs/engines.md, section 2: the wire contract).

A command is written by ``actions.record_action`` in the action's transaction. It is then
delivered by whoever gets to it first: the attempt right after the commit (a small
background thread, ``deliver_soon``), the embedded worker thread of ``make serve``
(``workflows.worker``), or
``manage.py deliver_outbox``. Any number of them may run at once.

How a command is claimed: in a short transaction the worker picks due commands and takes a
*lease* on them with one update: ``attempts`` + 1, ``last_attempt_at`` = now and
``next_attempt_at`` = now + the lease. No other claimer can pick the same commands meanwhile:
on PostgreSQL they are row-locked (``select_for_update(skip_locked=True)``, so others skip
them), and SQLite's BEGIN IMMEDIATE (config/settings.py) lets one writer in at a time. Nobody
else sees the command as due until the lease runs out, so a command is not sent twice unless
a worker dies mid-delivery (then it is sent again when the lease expires: at least once). The
HTTP call runs outside any transaction, so actions are never held up by a slow engine. The
outcome is written only by the claimer (matched by its ``last_attempt_at``).

Order per instance: a command is not due while an earlier command of the same instance is
pending or failed (including one in flight). A *dead* command does not block the ones after
it: it stays in the outbox for an admin, and holding every later action of its instance
hostage to a command the engine refused (e.g. 409, the instance has moved on) would only
pile up more dead commands. Retrying a dead command makes it pending again, and it then
blocks later commands of its instance until it is delivered or dead again.

``retry`` resets ``attempts`` to 0: an admin's retry gets the full ``OUTBOX_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from workflows.models import OutboxCommand

log = logging.getLogger(__name__)

Status = OutboxCommand.Status
UNDELIVERED = (Status.PENDING, Status.FAILED)

# The action of an event type (``actions.record_action`` names claim and release itself).
ACTION_OF_KIND = {
    "HumanTaskCompleted": "complete",
    "HumanTaskReassigned": "reassign",
    "WorkflowCanceled": "cancel",
    "WorkflowPaused": "pause",
    "WorkflowResumed": "resume",
}

# Answers docs/engines.md calls final: resending the same command cannot succeed.
FINAL_STATUSES = frozenset({400, 404, 409, 422})


class Refused(Exception):
    """Raised by an ``OUTBOX_CALLABLE`` for a final refusal: the command goes dead at once
    (any other exception is retried)."""


# --- settings (read at call time; config/settings.py defines each, with its default) ------


def backend() -> str:
    """``none``, ``webhook`` or ``callable`` (config/settings.py picks the default)."""
    return str(settings.OUTBOX_BACKEND)


def enabled() -> bool:
    return backend() != "none"


def _max_attempts() -> int:
    return max(1, int(settings.OUTBOX_MAX_ATTEMPTS))


def _timeout() -> float:
    return float(settings.OUTBOX_TIMEOUT)


def _lease() -> timedelta:
    # Longer than any one attempt can take (httpx's timeout applies per phase).
    return timedelta(seconds=max(30.0, 6 * _timeout()))


def backoff_delay(attempts: int) -> float:
    """Seconds until the next attempt after ``attempts`` failed ones: full jitter."""
    base = float(settings.OUTBOX_BACKOFF_BASE)
    cap = float(settings.OUTBOX_BACKOFF_MAX)
    return random.uniform(0, min(cap, base * 2 ** min(attempts, 32)))


# --- the wire ------------------------------------------------------------------------------


def command_body(command: OutboxCommand) -> dict[str, Any]:
    """The command as docs/engines.md describes it."""
    return {
        "id": str(command.command_id),
        "kind": command.action or command.kind,  # 0002 named the actions of older rows
        "instance_id": str(command.instance_id),
        "task_id": str(command.task_id) if command.task_id else None,
        "actor": command.actor,
        "created_at": command.created_at.isoformat(),
        "event": command.payload,
    }


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str | bytes, timestamp: str, raw_body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256(secret, f"{timestamp}." + body)."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode() + b"." + raw_body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def secrets_in_use() -> list[str]:
    """OUTBOX_WEBHOOK_SECRET; during a rotation, several separated by commas (new first)."""
    return [s.strip() for s in settings.OUTBOX_WEBHOOK_SECRET.split(",") if s.strip()]


def signed_headers(command_id: str, raw_body: bytes, now: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json",
        "X-Dashboard-Command-Id": command_id,
        "X-Dashboard-Timestamp": stamp,
        "X-Dashboard-Signature": ",".join(sign(s, stamp, raw_body) for s in secrets_in_use()),
    }


# --- backends ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    final: bool = False  # not ok, and retrying cannot help
    error: str = ""


_local = threading.local()


def _client() -> Any:
    import httpx

    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(follow_redirects=False)
    return client


def _answer_error(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and (data.get("error") or data.get("status")):
        return str(data.get("error") or data.get("status"))[:500]
    text = (response.text or "").strip()
    return text[:200] or (response.reason_phrase or "")


def send_webhook(body: dict[str, Any]) -> Outcome:
    import httpx

    url = settings.OUTBOX_WEBHOOK_URL
    if not url:
        return Outcome(False, error="OUTBOX_WEBHOOK_URL is not set")
    if not secrets_in_use():
        return Outcome(False, error="OUTBOX_WEBHOOK_SECRET is not set")
    raw = encode(body)
    try:
        response = _client().post(
            url, content=raw, headers=signed_headers(body["id"], raw), timeout=_timeout()
        )
    except httpx.TimeoutException:
        return Outcome(False, error=f"no answer within {_timeout():g} s")
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"cannot reach the engine ({type(exc).__name__}: {exc})")
    if 200 <= response.status_code < 300:
        return Outcome(True)
    error = f"HTTP {response.status_code}: {_answer_error(response)}".rstrip(": ")
    return Outcome(False, final=response.status_code in FINAL_STATUSES, error=error)


def send_callable(body: dict[str, Any]) -> Outcome:
    path = settings.OUTBOX_CALLABLE
    if not path:
        return Outcome(False, error="OUTBOX_CALLABLE is not set")
    try:
        func: Callable[[dict[str, Any]], Any] = import_string(path)
        func(body)
    except Refused as exc:
        return Outcome(False, final=True, error=str(exc) or "refused")
    except Exception as exc:  # any failure of the receiver is retried
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(True)


def send(body: dict[str, Any]) -> Outcome:
    name = backend()
    if name == "webhook":
        return send_webhook(body)
    if name == "callable":
        return send_callable(body)
    return Outcome(False, error=f"unknown OUTBOX_BACKEND {name!r}")


# --- claiming and delivering ---------------------------------------------------------------


def due_commands(now: datetime) -> Any:
    """Undelivered commands whose time has come and with no earlier undelivered one of the
    same instance before them, oldest first."""
    earlier = OutboxCommand.objects.filter(
        instance_id=OuterRef("instance_id"), id__lt=OuterRef("id"), status__in=UNDELIVERED
    )
    return (
        OutboxCommand.objects.filter(status__in=UNDELIVERED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(Exists(earlier))
        .order_by("id")
    )


def _claim(limit: int, instance_id: Any = None) -> list[OutboxCommand]:
    """Take a lease on up to ``limit`` due commands; each is ours alone until it ends (the
    module's docstring says why no other claimer can take them meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        qs = due_commands(now)
        if instance_id is not None:
            qs = qs.filter(instance_id=instance_id)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        claimed = list(qs[:limit])
        OutboxCommand.objects.filter(pk__in=[c.pk for c in claimed]).update(
            attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + _lease()
        )
    for command in claimed:
        command.attempts += 1
        command.last_attempt_at = now
    return claimed


def _record(command: OutboxCommand, outcome: Outcome) -> None:
    now = timezone.now()
    mine = OutboxCommand.objects.filter(pk=command.pk, last_attempt_at=command.last_attempt_at)
    if outcome.ok:
        mine.update(status=Status.DELIVERED, delivered_at=now, next_attempt_at=None)
        return
    if outcome.final:
        mine.update(status=Status.DEAD, next_attempt_at=None, last_error=outcome.error)
        return
    if command.attempts >= _max_attempts():
        error = f"{outcome.error} (gave up after {command.attempts} attempts)"
        mine.update(status=Status.DEAD, next_attempt_at=None, last_error=error)
        return
    later = now + timedelta(seconds=backoff_delay(command.attempts))
    mine.update(status=Status.FAILED, next_attempt_at=later, last_error=outcome.error)


def deliver(command: OutboxCommand) -> Outcome:
    """One attempt at a command this worker has claimed; records the outcome."""
    try:
        outcome = send(command_body(command))
    except Exception as exc:  # a bug in a backend must not lose the command
        log.exception("outbox: sending command %s failed", command.command_id)
        outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    _record(command, outcome)
    if not outcome.ok:
        log.warning("outbox: %s %s: %s", command.action, command.command_id, outcome.error)
    return outcome


def deliver_due(limit: int = 100, *, instance_id: Any = None) -> int:
    """Attempt up to ``limit`` due commands (optionally of one instance); how many were
    attempted. Safe to run in several threads and processes at once."""
    if not enabled():
        return 0
    attempted = 0
    while attempted < limit:
        batch = _claim(min(50, limit - attempted), instance_id)
        if not batch:
            break
        for command in batch:
            deliver(command)
            attempted += 1
    return attempted


def retry(command: OutboxCommand) -> bool:
    """A dead command back to pending, with its attempts reset to 0 (it gets the full
    OUTBOX_MAX_ATTEMPTS again; its last error stays until the next attempt). False when
    it was not dead. A first attempt follows the commit."""
    changed = OutboxCommand.objects.filter(pk=command.pk, status=Status.DEAD).update(
        status=Status.PENDING, attempts=0, next_attempt_at=None
    )
    if changed:
        command.refresh_from_db()
        transaction.on_commit(partial(deliver_soon, command.instance_id))
    return bool(changed)


# --- what the pages say --------------------------------------------------------------------


def _at(moment: datetime | None) -> str:
    if moment is None:
        return "soon"
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z")


def command_state(command: OutboxCommand) -> str:
    """One short sentence on where a command is."""
    if command.status == Status.DELIVERED:
        return "Sent to the engine"
    if command.status == Status.DEAD:
        return f"Not delivered: {command.last_error or 'gave up'}"
    if not enabled():
        return "Recorded; no engine is configured"
    if command.status == Status.FAILED:
        return f"Delivery failed: {command.last_error}, retrying at {_at(command.next_attempt_at)}"
    return "Waiting to be delivered"


# --- the attempt right after the commit, and the worker loop --------------------------------

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _in_thread(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        log.exception("outbox: a background delivery failed")
    finally:
        connection.close()  # this thread's own connection; the next job opens a fresh one


def _background(fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the outbox's single background thread (tests replace this)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
    _executor.submit(_in_thread, fn)


def deliver_soon(instance_id: uuid.UUID) -> None:
    """After an action's commit: deliver the instance's due commands (the new one and any
    queued behind an earlier one) at once, in the background. Never raises; does nothing
    with OUTBOX_BACKEND=none."""
    try:
        if enabled():
            _background(partial(deliver_due, limit=20, instance_id=instance_id))
    except Exception:
        log.exception("outbox: cannot schedule delivery for instance %s", instance_id)


def run_worker(stop: threading.Event, idle: float = 0.5, batch: int = 100) -> None:
    """Deliver due commands until ``stop`` is set, sleeping ``idle`` seconds when idle."""
    while not stop.is_set():
        try:
            close_old_connections()
            done = deliver_due(limit=batch)
        except Exception:
            log.exception("outbox: the worker loop failed; trying again")
            connection.close()
            done = 0
        if not done:
            stop.wait(idle)
    connection.close()
