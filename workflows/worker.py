"""The background worker: outbox commands to the engine, assignment emails (and their
retries), and the daily digests at their hour. ``make serve`` runs it in a thread of the
server (OUTBOX_EMBEDDED_WORKER=1); ``manage.py run_worker`` runs the whole loop as a process
of its own (``make serve-prod`` starts one); ``manage.py send_notifications`` runs the emails'
part beside ``deliver_outbox``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from workflows import notifications, outbox

log = logging.getLogger(__name__)


class Worker:
    """One loop's state: when the digests are next looked at."""

    def __init__(self, *, commands: bool = True) -> None:
        self.commands = commands
        self.next_digest_check: datetime | None = None

    def step(self, now: datetime, batch: int = 100) -> int:
        """One pass at ``now``: what is due; the digests once DIGEST_CHECK_SECONDS have
        passed since they were last looked at. How much was attempted."""
        done = outbox.deliver_due(limit=batch) if self.commands else 0
        done += notifications.deliver_due(limit=batch)
        if self.next_digest_check is None or now >= self.next_digest_check:
            self.next_digest_check = now + timedelta(seconds=settings.DIGEST_CHECK_SECONDS)
            done += notifications.send_due_digests(now)
        return done

    def run(
        self,
        stop: threading.Event,
        idle: float = 0.5,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        """Work until ``stop`` is set, sleeping ``idle`` seconds when nothing was due."""
        while not stop.is_set():
            try:
                close_old_connections()
                done = self.step(clock())
            except Exception:
                log.exception("worker: the loop failed; trying again")
                connection.close()
                done = 0
            if not done:
                stop.wait(idle)
        connection.close()


_embedded: threading.Thread | None = None


def start_embedded() -> threading.Thread:
    """The worker loop in a daemon thread of this process (``make serve``); once."""
    global _embedded
    if _embedded is None or not _embedded.is_alive():
        _embedded = threading.Thread(
            target=Worker().run, args=(threading.Event(),), name="worker", daemon=True
        )
        _embedded.start()
    return _embedded
