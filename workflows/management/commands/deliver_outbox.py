"""Deliver outbox commands to the engine: a loop until SIGINT/SIGTERM, or ``--once``."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workflows import outbox


class Command(BaseCommand):
    help = "Deliver people's actions to the engine (OUTBOX_BACKEND); --once drains what is due."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Drain what is due, then exit.")
        parser.add_argument(
            "--idle", type=float, default=0.5, help="Seconds to sleep when nothing is due."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not outbox.enabled():
            self.stdout.write("OUTBOX_BACKEND is none: commands are recorded only; nothing to do.")
            return
        if options["once"]:
            total = 0
            while done := outbox.deliver_due(limit=500):
                total += done
            self.stdout.write(f"{total} command(s) attempted.")
            return
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(f"Delivering the outbox ({outbox.backend()}); Ctrl-C stops.")
        outbox.run_worker(stop, idle=options["idle"])
        self.stdout.write("Stopped.")
