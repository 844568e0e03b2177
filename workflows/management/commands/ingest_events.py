"""``ingest_events FILE.jsonl``: replay a JSON-lines file through the ingest service."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from workflows import jsonvalues
from workflows.ingest import IngestError, ingest_events, validate_batch
from workflows.wire import ParsedEvent

MAX_REPORTED = 50


class Command(BaseCommand):
    help = (
        "Replay a JSON-lines file of events (one event per line, '-' for stdin) through the "
        "same ingest path as the API. The whole file is validated first; if any line is bad, "
        "the bad lines are listed and nothing is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to a .jsonl file, or '-' to read stdin.")
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Events per ingest call (default 500)."
        )
        parser.add_argument(
            "--source",
            default=None,
            help="Recorded as each event's source (default cli:<file name>).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["file"]
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        source = options["source"] or f"cli:{'stdin' if path == '-' else Path(path).name}"
        progress = options["verbosity"] > 0
        started = time.perf_counter()

        line_numbers, objects, problems = self._read(path)
        parsed: list[ParsedEvent] = []
        if objects:
            # Validate the JSON lines even when some lines are not JSON: report every bad
            # line in one go rather than one kind of problem per attempt.
            try:
                parsed = validate_batch(objects)
            except IngestError as exc:
                problems += [
                    (
                        line_numbers[p.index] if p.index is not None else 0,
                        f"{p.field}: {p.message}" if p.field else p.message,
                    )
                    for p in exc.problems
                ]
        if problems:
            self._refuse(path, problems)
        if not objects:
            self.stdout.write(f"{path}: no events (blank file); nothing to do.")
            return

        accepted = duplicates = 0
        bar = tqdm(
            total=len(parsed), unit="ev", desc="ingest", disable=not progress, file=sys.stderr
        )
        # One transaction around the replay: a failure part way (a lost connection, a
        # concurrent writer) leaves nothing half-stored, as a bad line would.
        with bar, transaction.atomic():
            for chunk in _chunks(parsed, batch_size):
                result = ingest_events(events=chunk, source=source)
                accepted += result.accepted
                duplicates += result.duplicates
                bar.update(len(chunk))
        seconds = max(time.perf_counter() - started, 1e-6)
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: {accepted} accepted, {duplicates} duplicates, "
                f"{len(line_numbers)} lines in {seconds:.2f}s "
                f"({len(parsed) / seconds:,.0f} events/s)"
            )
        )

    def _read(self, path: str) -> tuple[list[int], list[Any], list[tuple[int, str]]]:
        """Each non-blank line's number and JSON value, and the lines that are not JSON."""
        numbers: list[int] = []
        objects: list[Any] = []
        problems: list[tuple[int, str]] = []
        number = 0
        try:
            with _open(path) as stream:
                for number, line in enumerate(stream, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = jsonvalues.loads(line)
                    except ValueError as exc:
                        problems.append((number, f"not JSON: {exc}"))
                        continue
                    numbers.append(number)
                    objects.append(obj)
        except UnicodeDecodeError:
            raise CommandError(f"{path}:{number + 1}: not UTF-8 text; nothing was stored") from None
        return numbers, objects, problems

    def _refuse(self, path: str, problems: list[tuple[int, str]]) -> None:
        lines = sorted({n for n, _ in problems})
        for number, message in sorted(problems)[:MAX_REPORTED]:
            self.stderr.write(f"{path}:{number}: {message}" if number else f"{path}: {message}")
        if len(problems) > MAX_REPORTED:
            self.stderr.write(f"... and {len(problems) - MAX_REPORTED} more problems")
        raise CommandError(
            f"{len(lines)} bad line{'s' if len(lines) != 1 else ''} in {path} "
            f"(line{'s' if len(lines) != 1 else ''} {_ranges(lines)}); nothing was stored"
        )


def _open(path: str) -> AbstractContextManager[IO[str]]:
    if path == "-":
        # Leave stdin open when the with-block ends.
        return nullcontext(sys.stdin)
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _chunks(items: list[ParsedEvent], size: int) -> Iterable[list[ParsedEvent]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ranges(numbers: list[int], limit: int = 10) -> str:
    """'3, 7-9, 12' for a sorted list of line numbers."""
    spans: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(spans[:limit]) + (", ..." if len(spans) > limit else "")
