"""``simulate``: realistic workflows for the demo users, sent through the ingest service."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from demo.simulation import LiveFeed, generate
from workflows.ingest import ingest_events
from workflows.models import Event, HumanTask
from workflows.wire import parse_datetime

SOURCE = "simulate"
BATCH_SIZE = 500


class Command(BaseCommand):
    help = (
        "Simulate expense approvals, document reviews and onboardings for the demo users "
        "and teams (run seed_demo first), through the same ingest path as an engine. "
        "Once over the last few days, or --continuous in real time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--workflows", type=int, default=30, help="Workflows to lay out (default 30)."
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed, to repeat a run exactly."
        )
        parser.add_argument(
            "--now",
            type=_aware,
            default=None,
            help="Lay the workflows out up to this ISO 8601 time instead of the current "
            "time (with --seed, repeats a run event for event).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the event log already holds any event.",
        )
        parser.add_argument(
            "--continuous",
            action="store_true",
            help="Keep workflows progressing in real time until Ctrl-C (or --duration).",
        )
        parser.add_argument(
            "--rate",
            type=float,
            default=2.0,
            help="With --continuous: events per second (default 2).",
        )
        parser.add_argument(
            "--duration",
            type=float,
            default=None,
            help="With --continuous: stop after this many seconds.",
        )
        parser.add_argument(
            "--in-flight",
            type=int,
            default=8,
            help="With --continuous: workflows advancing side by side (default 8).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workflows"] < 1:
            raise CommandError("--workflows must be at least 1")
        if options["continuous"] and options["rate"] <= 0:
            raise CommandError("--rate must be more than 0")
        if options["in_flight"] < 1:
            raise CommandError("--in-flight must be at least 1")
        if options["if_empty"] and Event.objects.exists():
            self.stdout.write("The event log is not empty; not simulating (--if-empty).")
            return
        if options["continuous"]:
            self._continuous(options)
        else:
            self._once(options)

    def _once(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        batch = generate(workflows=options["workflows"], seed=options["seed"], now=options["now"])
        accepted = duplicates = 0
        for start in range(0, len(batch.events), BATCH_SIZE):
            result = ingest_events(events=batch.events[start : start + BATCH_SIZE], source=SOURCE)
            accepted += result.accepted
            duplicates += result.duplicates
        counts = batch.counts()
        seconds = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Simulated {len(batch.workflows)} workflows (seed {batch.seed}): "
                f"{accepted} events accepted, {duplicates} duplicates in {seconds:.2f}s"
            )
        )
        self.stdout.write("  kinds:    " + _fmt(counts["kind"]))
        self.stdout.write("  outcomes: " + _fmt(counts["outcome"]))
        self._open_tasks()

    def _continuous(self, options: dict[str, Any]) -> None:
        rate: float = options["rate"]
        duration: float | None = options["duration"]
        feed = LiveFeed(seed=options["seed"], in_flight=options["in_flight"])
        self.stdout.write(
            f"Simulating continuously at {rate:g} events/s (seed {feed.seed}); Ctrl-C to stop."
        )
        # Sleep in short ticks and send whatever the rate owes, so high rates go in batches
        # and low rates still send one event at a time.
        tick = min(1.0 / rate, 0.25)
        started = time.monotonic()
        sent = accepted = 0
        try:
            while True:
                elapsed = time.monotonic() - started
                if duration is not None and elapsed >= duration:
                    break
                owed = int(elapsed * rate) + 1 - sent
                if owed > 0:
                    events = feed.take(min(owed, BATCH_SIZE))
                    result = ingest_events(events=events, source=SOURCE)
                    sent += len(events)
                    accepted += result.accepted
                    if options["verbosity"] > 1:
                        self.stdout.write(f"  sent {len(events)} ({sent} in all)")
                time.sleep(tick)
        except KeyboardInterrupt:
            self.stdout.write("")
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Sent {sent} events ({accepted} accepted) in {seconds:.1f}s; "
                f"started {sum(feed.started.values())} workflows, "
                f"finished scripts: {_fmt(feed.finished) or 'none yet'}"
            )
        )
        self._open_tasks()

    def _open_tasks(self) -> None:
        """What people will see: open tasks per user, per team, and unrouted."""
        open_tasks = HumanTask.objects.open()
        by_user = dict(
            open_tasks.filter(assignee_user__isnull=False)
            .values_list("assignee_user__username")
            .annotate(n=Count("id"))
        )
        by_group = dict(
            open_tasks.filter(assignee_group__isnull=False)
            .values_list("assignee_group__name")
            .annotate(n=Count("id"))
        )
        self.stdout.write("  open tasks by person: " + (_fmt(Counter(by_user)) or "none"))
        self.stdout.write("  open tasks by team:   " + (_fmt(Counter(by_group)) or "none"))
        self.stdout.write(f"  unrouted open tasks:  {open_tasks.unrouted().count()}")


def _aware(value: str) -> datetime:
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fmt(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))
