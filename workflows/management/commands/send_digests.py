"""Send the daily digests that are due now (for cron or a systemd timer); safe to run
often and concurrently: nobody gets two digests for one day."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workflows import notifications


class Command(BaseCommand):
    help = (
        "Send the daily digest of overdue tasks to everyone who asked for one and whose "
        "DIGEST_HOUR has come today (in their time zone); at most one per person per day."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = notifications.send_due_digests()
        self.stdout.write(f"{done} digest(s) attempted.")
