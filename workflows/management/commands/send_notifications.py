"""Send people's emails: assignment emails (and their retries) and the daily digests at
DIGEST_HOUR, in a loop until SIGINT/SIGTERM, or ``--once``."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from workflows.worker import Worker


class Command(BaseCommand):
    help = (
        "Send assignment emails and daily digests (the worker's email part, for deployments "
        "without the embedded worker); --once sends what is due, then exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Send what is due, then exit.")
        parser.add_argument(
            "--idle", type=float, default=0.5, help="Seconds to sleep when nothing is due."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker(commands=False)
        if options["once"]:
            total = 0
            while done := worker.step(timezone.now()):
                total += done
            self.stdout.write(f"{total} email(s) attempted.")
            return
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write("Sending emails; Ctrl-C stops.")
        worker.run(stop, idle=options["idle"])
        self.stdout.write("Stopped.")
