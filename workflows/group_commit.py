"""Group commit: requests that wait to ingest at the same time share one transaction.

A server process answers ``POST /api/events`` in several threads (``WEB_THREADS``), and
ingest transactions take turns anyway (SQLite's write lock; on PostgreSQL the per-instance
locks and one WAL flush per commit). So each request validates its own events (a refusal is
its own 422, before it joins anything) and queues them; whichever request finds no leader
becomes the leader, takes everything queued at that moment (in arrival order, up to
``GROUP_MAX_EVENTS`` events besides its own) and ingests them in one transaction: one insert,
one fold of the instances touched, one commit. Nobody waits on a timer: a lone request
finds the queue holding only itself and runs ``ingest.ingest_parsed`` as it always did,
while requests that arrive during a transaction queue for the next one.

Each member gets the results of its own events (indexes its own), as if the members had been
sent one after the other in queue order: an event sent by two members is stored for the
first and a duplicate for the later. After the commit each member gets its own metrics and
log line (``ingest._committed``, its duration from its own start, its request id: the
leader logs in each member's ``contextvars`` context); the live broadcast is sent
once for the group, with the changes of all its members. If the group's transaction fails
(e.g. a task claimed under two instances by two members, found under the locks, or an
``IntegrityError``), it is rolled back whole and the leader ingests every member alone, in
the group's order, so only the member at fault gets the error (raised in its own thread).
Inside a caller's transaction (``connection.in_atomic_block``) or with
``INGEST_GROUP_COMMIT`` off, a request ingests alone.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from workflows import ingest, outages
from workflows.models import Event
from workflows.wire import ParsedEvent

log = logging.getLogger(__name__)

# Bounds the events a leader takes from others; its own always go, however many.
GROUP_MAX_EVENTS = 1000


@dataclass(eq=False)
class _Member:
    parsed: list[ParsedEvent]
    source: str
    started: float
    # The request's context (its request id for log lines): the leader logs for it in it.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    done: bool = False  # its group is over: result or error set
    result: ingest.IngestResult | None = None
    error: BaseException | None = None  # raised in the member's own thread


class GroupCommit:
    """One queue per process; ``ingest_events`` is the entry point."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue: list[_Member] = []
        self._leading = False
        # Group sizes, for tests and the benchmark's curiosity (last few hundred).
        self.sizes: list[int] = []

    def ingest_events(self, *, events: Sequence[Any], source: str) -> ingest.IngestResult:
        """``ingest.ingest_events``, grouped with the requests waiting at the same time."""
        started = time.perf_counter()
        if not settings.INGEST_GROUP_COMMIT or connection.in_atomic_block:
            return ingest.ingest_events(events=events, source=source)
        me = _Member(ingest.validate_batch(events), source, started)
        with self._lock:
            self._queue.append(me)
            while self._leading and not me.done:
                self._lock.wait()
            if not me.done:
                self._leading = True
                group = self._take(me)
        if me.done:
            return self._outcome(me)
        try:
            if len(group) == 1:
                # Alone: exactly the ingest of one request, its errors raised here.
                me.result = ingest.ingest_parsed(me.parsed, me.source, me.started)
            else:
                self._commit(group)
        finally:
            with self._lock:
                self._leading = False
                for member in group:
                    if member.result is None and member.error is None:
                        member.error = RuntimeError("the ingest group's leader failed")
                    member.done = True
                self._lock.notify_all()
        return self._outcome(me)

    def _take(self, me: _Member) -> list[_Member]:
        """The leader's group: itself, the oldest waiting member whatever its size (so no
        request waits behind later ones for ever), and the rest of the queue in arrival
        order, skipping a member that would take them past the bound (it waits for the
        next group)."""
        group: list[_Member] = []
        others = 0
        for member in self._queue:
            if member is me or member is self._queue[0]:
                group.append(member)
                if member is not me:
                    others += len(member.parsed)
            elif others + len(member.parsed) <= GROUP_MAX_EVENTS:
                group.append(member)
                others += len(member.parsed)
        self._queue = [member for member in self._queue if member not in group]
        self.sizes = [*self.sizes[-499:], len(group)]
        return group

    @staticmethod
    def _outcome(me: _Member) -> ingest.IngestResult:
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    @staticmethod
    def _commit(group: list[_Member]) -> None:
        """One transaction for the group's events; on failure, nothing stored, no results."""
        parsed = [p for member in group for p in member.parsed]
        sources = [member.source for member in group for _ in member.parsed]
        try:
            with transaction.atomic():
                together = ingest._store_and_fold(parsed, sources)
        except Exception as exc:
            if outages.is_outage(exc):
                # The database is away: each alone would wait out the same timeout in turn.
                # All get the error at once (a 503 with Retry-After: nothing was stored).
                for member in group:
                    member.error = exc
                return
            # Rolled back whole: the members ingest alone, one after the other in the group's
            # order (still the leader), so the one at fault fails alone, as if sent in turn.
            log.info("group commit of %d requests failed, each alone: %r", len(group), exc)
            for member in group:
                try:
                    member.result = member.context.run(
                        ingest.ingest_parsed, member.parsed, member.source, member.started
                    )
                except Exception as alone:
                    member.error = alone
            return
        done = time.perf_counter()
        # Results and stored rows come in the order of ``parsed``; cut them per member.
        offset = stored_at = 0
        for member in group:
            results = together.results[offset : offset + len(member.parsed)]
            accepted = sum(r.status == "accepted" for r in results)
            member.result = ingest.IngestResult(
                results=[
                    ingest.EventResult(r.index - offset, r.event_id, r.status, r.warnings)
                    for r in results
                ],
                changes=together.changes,
                stored=together.stored[stored_at : stored_at + accepted],
            )
            offset += len(member.parsed)
            stored_at += accepted
        for member in group:
            assert member.result is not None
            member.context.run(
                ingest._committed, member.result, member.source, done - member.started
            )
        if together.changes.instances:
            ingest.events_ingested.send(sender=Event, changes=together.changes)


_group_commit = GroupCommit()


def ingest_events(*, events: Sequence[Any], source: str) -> ingest.IngestResult:
    """``workflows.ingest.ingest_events`` for a request, grouped (module docstring)."""
    return _group_commit.ingest_events(events=events, source=source)
