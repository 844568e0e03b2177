"""``rebuild_projections``: throw away every projection row and fold them again from the log."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from workflows import search
from workflows.models import Event, HumanTask, StepRun, WorkflowInstance
from workflows.store import refold


class Command(BaseCommand):
    help = (
        "Rebuild every projection (workflow instances, step runs, human tasks, the search "
        "index) from the "
        "event log, in one transaction: readers see the old rows until it commits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=500,
            help="Instances folded per step (default 500).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        chunk_size: int = options["chunk_size"]
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        started = time.perf_counter()
        with transaction.atomic():
            instance_ids = list(
                Event.objects.order_by("instance_id")
                .values_list("instance_id", flat=True)
                .distinct()
            )
            # People's actions own HumanTask.version (their conditional updates); it is not
            # part of the fold, so carry it over the rebuild.
            versions = dict(
                HumanTask.objects.filter(version__gt=0).values_list("task_id", "version")
            )
            # Children first, so each delete is one statement rather than a cascade walk.
            HumanTask.objects.all().delete()
            StepRun.objects.all().delete()
            WorkflowInstance.objects.all().delete()
            search.clear()  # the search index is folded again with the rows
            with tqdm(
                total=len(instance_ids),
                unit="inst",
                desc="rebuild",
                disable=options["verbosity"] == 0,
                file=sys.stderr,
            ) as bar:
                for start in range(0, len(instance_ids), chunk_size):
                    chunk = instance_ids[start : start + chunk_size]
                    refold(chunk)
                    bar.update(len(chunk))
            by_version: dict[int, list[Any]] = defaultdict(list)
            for task_id, version in versions.items():
                by_version[version].append(task_id)
            for version, task_ids in by_version.items():
                HumanTask.objects.filter(task_id__in=task_ids).update(version=version)
            tasks = HumanTask.objects.count()
            steps = StepRun.objects.count()
            events = Event.objects.count()
        seconds = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {len(instance_ids)} instances, {steps} step runs and {tasks} tasks "
                f"from {events} events in {seconds:.2f}s"
            )
        )
