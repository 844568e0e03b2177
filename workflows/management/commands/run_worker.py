"""The whole background worker as a process of its own: outbox commands to the engine,
assignment emails (and their retries) and the daily digests, in a loop until SIGINT/SIGTERM.

What ``make serve`` runs in a thread of its one server process (OUTBOX_EMBEDDED_WORKER=1),
and what ``make serve-prod`` (``config/serve.py``) runs beside its server processes.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows import outbox
from workflows.worker import Worker


class Command(BaseCommand):
    help = (
        "Run the background worker (outbox commands, emails, digests) until SIGINT/SIGTERM: "
        "deliver_outbox and send_notifications in one process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--idle", type=float, default=0.5, help="Seconds to sleep when nothing is due."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.OUTBOX_EMBEDDED_WORKER:
            raise CommandError(
                "OUTBOX_EMBEDDED_WORKER=1 already runs this loop in a thread of every process "
                "(this one too): unset it to run the worker as a process of its own."
            )
        if options["idle"] <= 0:
            raise CommandError("--idle must be a positive number of seconds.")
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(
            f"Worker running (outbox: {outbox.backend()}; emails: {settings.EMAIL_BACKEND}); "
            "Ctrl-C stops."
        )
        self.stdout.flush()
        Worker().run(stop, idle=options["idle"])
        self.stdout.write("Stopped.")
