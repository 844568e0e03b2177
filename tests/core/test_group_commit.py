"""Group commit (workflows/group_commit.py): concurrent ingest requests share a transaction.

Each test forms its group deterministically: a first request leads alone and is held before
its transaction starts, while the members, started one at a time, queue behind it in a
known order; then it is let go, and the next leader takes the whole queue as one group.
The requests go through the real view (the test Client, one per thread, each thread with
its own database connection), so ``transactional_db``: nothing is inside a test transaction.
Nothing touches the database while another thread writes (the held leader has not begun),
which the in-memory SQLite test database needs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from prometheus_client import REGISTRY

from config.logs import HEADER, RequestIdFilter
from tests.support.events import human_task_created, new_id, started, workflow_started
from workflows import group_commit, ingest
from workflows.models import Event, HumanTask, IngestToken, WorkflowInstance
from workflows.store import Changes

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(name: str) -> Client:
    _, raw = IngestToken.issue(name, scopes=["events:write", "read"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


class Group:
    """Runs a held leader, then members queued behind it in order; see the module doc."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gc = group_commit.GroupCommit()
        monkeypatch.setattr(group_commit, "_group_commit", self.gc)
        self.gate = threading.Event()
        self.holding = threading.Event()
        self._held_once = threading.Lock()
        real = ingest.ingest_parsed

        def held(*args: Any) -> ingest.IngestResult:
            if self._held_once.acquire(blocking=False):
                self.holding.set()
                assert self.gate.wait(timeout=10), "the test never let the leader go"
            return real(*args)

        monkeypatch.setattr(ingest, "ingest_parsed", held)

    def run(self, first: Callable[[], Any], members: list[Callable[[], Any]]) -> list[Any]:
        """Outcomes (return value or exception) of ``first`` then each member."""
        outcomes: list[Any] = [None] * (1 + len(members))

        def call(i: int, fn: Callable[[], Any]) -> None:
            try:
                outcomes[i] = fn()
            except Exception as exc:
                outcomes[i] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=call, args=(0, first))]
        threads[0].start()
        assert self.holding.wait(timeout=10), "the first request never led"
        queued = 0
        for i, fn in enumerate(members, start=1):
            thread = threading.Thread(target=call, args=(i, fn))
            threads.append(thread)
            thread.start()
            # Next one only once this one queued (or answered without queueing: refused).
            deadline = time.monotonic() + 10
            while len(self.gc._queue) == queued and thread.is_alive():
                assert time.monotonic() < deadline, "a member neither queued nor answered"
                time.sleep(0.002)
            queued = len(self.gc._queue)
        self.gate.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a request hung"
        return outcomes


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch) -> Group:
    return Group(monkeypatch)


@pytest.fixture
def broadcasts() -> Iterator[list[Changes]]:
    sent: list[Changes] = []

    def receiver(sender: Any, changes: Changes, **kwargs: Any) -> None:
        sent.append(changes)

    ingest.events_ingested.connect(receiver, dispatch_uid="test.group_commit")
    yield sent
    ingest.events_ingested.disconnect(dispatch_uid="test.group_commit")


def post(client: Client, events: list[dict[str, Any]]) -> Callable[[], Any]:
    return lambda: client.post("/api/events", events, content_type="application/json")


def ingested() -> float:
    return (
        REGISTRY.get_sample_value("taskinbox_events_ingested_total", {"type": "WorkflowStarted"})
        or 0.0
    )


def ingests() -> float:
    return REGISTRY.get_sample_value("taskinbox_ingest_seconds_count") or 0.0


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]


def test_each_member_gets_its_own_results_from_one_transaction(
    group: Group, broadcasts: list[Changes], caplog: pytest.LogCaptureFixture
) -> None:
    engine, other = client_for("engine"), client_for("other-engine")
    lead = [started(new_id())]
    batches = [[started(new_id()) for _ in range(n)] for n in (1, 3, 2)]
    senders = [engine, other, engine]
    caplog.set_level(logging.INFO, logger="taskinbox.ingest")
    caplog.handler.addFilter(RequestIdFilter())
    counted, timed = ingested(), ingests()

    outcomes = group.run(
        post(engine, lead), [post(c, b) for c, b in zip(senders, batches, strict=True)]
    )

    assert group.gc.sizes == [1, 3]  # the lead alone, then the three members together
    for response, batch in zip(outcomes[1:], batches, strict=True):
        assert response.status_code == 200, response.content
        body = response.json()
        assert [r["event_id"] for r in body["results"]] == ids(batch)
        assert [r["index"] for r in body["results"]] == list(range(len(batch)))
        assert (body["accepted"], body["duplicates"]) == (len(batch), 0)
    # Stored once each, under the token that sent it.
    for sender, batch in zip(["engine", "other-engine", "engine"], batches, strict=True):
        stored = Event.objects.filter(event_id__in=ids(batch)).values_list("source", flat=True)
        assert sorted(stored) == [f"token:{sender}"] * len(batch)
    assert WorkflowInstance.objects.count() == 7
    # One log line per request (its own counts and source), one broadcast per transaction.
    lines = [
        (r.__dict__["events"], r.__dict__["stored"], r.__dict__["source"])
        for r in caplog.records
        if r.name == "taskinbox.ingest"
    ]
    lead_line = (1, 1, "token:engine")
    member_lines = [
        (n, n, f"token:{s}") for n, s in [(1, "engine"), (3, "other-engine"), (2, "engine")]
    ]
    assert sorted(lines) == sorted([lead_line, *member_lines])
    # Each line carries its own request's id, though the leader wrote the members' lines.
    logged_ids = {r.__dict__["request_id"] for r in caplog.records if r.name == "taskinbox.ingest"}
    assert logged_ids == {response[HEADER] for response in outcomes}
    # The metrics count each request's stored events once.
    assert (ingested() - counted, ingests() - timed) == (7, 4)
    assert len(broadcasts) == 2
    grouped = {uuid.UUID(e["instance_id"]) for b in batches for e in b}
    assert broadcasts[1].instances == grouped


def test_a_member_with_invalid_events_is_refused_alone(group: Group) -> None:
    client = client_for("engine")
    good, later = [started(new_id())], [started(new_id())]
    bad = [started(new_id()), {"type": "WorkflowStarted", "instance_id": "not-a-uuid"}]

    outcomes = group.run(
        post(client, [started(new_id())]),
        [post(client, good), post(client, bad), post(client, later)],
    )

    refused = outcomes[2]
    assert refused.status_code == 422
    assert {e["index"] for e in refused.json()["errors"]} == {1}
    assert [o.status_code for o in (outcomes[1], outcomes[3])] == [200, 200]
    assert group.gc.sizes == [1, 2]  # the refused one never joined
    assert not Event.objects.filter(event_id=bad[0]["event_id"]).exists()
    assert Event.objects.filter(event_id__in=ids(good) + ids(later)).count() == 2


def test_a_failing_group_falls_back_to_each_member_alone(
    group: Group, caplog: pytest.LogCaptureFixture
) -> None:
    """Two members name one new task under two instances: neither saw the other when it
    was validated; the group's transaction finds it under the locks and rolls back, then
    each member goes alone, in order: the first claims the task, the second is refused."""
    client = client_for("engine")
    task_id, first_iid, second_iid = new_id(), new_id(), new_id()
    innocent = [started(new_id())]
    first = [workflow_started(first_iid), human_task_created(first_iid, 1, task_id)]
    second = [workflow_started(second_iid), human_task_created(second_iid, 1, task_id)]
    caplog.set_level(logging.INFO, logger="workflows.group_commit")

    outcomes = group.run(
        post(client, [started(new_id())]),
        [post(client, innocent), post(client, first), post(client, second)],
    )

    assert group.gc.sizes == [1, 3]
    assert any("failed, each alone" in r.getMessage() for r in caplog.records)
    assert [o.status_code for o in outcomes[:3]] == [200, 200, 200]
    assert outcomes[2].json()["accepted"] == 2
    refused = outcomes[3]
    assert refused.status_code == 422, refused.content
    assert refused.json()["errors"] == [
        {
            "index": 1,
            "field": "task_id",
            "message": f"task {task_id} belongs to instance {first_iid}",
        }
    ]
    assert HumanTask.objects.get().instance.instance_id == uuid.UUID(first_iid)
    # Nothing of the refused request stored, everything of the others once.
    assert not WorkflowInstance.objects.filter(instance_id=second_iid).exists()
    assert Event.objects.count() == 1 + 1 + 2


def test_an_event_sent_by_two_members_is_stored_for_the_first(group: Group) -> None:
    client = client_for("engine")
    shared = started(new_id())
    one = [started(new_id()), shared]
    two = [shared, started(new_id())]

    outcomes = group.run(post(client, [started(new_id())]), [post(client, one), post(client, two)])

    assert group.gc.sizes == [1, 2]
    statuses = [[r["status"] for r in o.json()["results"]] for o in outcomes[1:]]
    assert statuses == [["accepted", "accepted"], ["duplicate", "accepted"]]
    assert [o.json()["duplicates"] for o in outcomes[1:]] == [0, 1]
    assert Event.objects.filter(event_id=shared["event_id"]).count() == 1
    assert Event.objects.count() == 4


def test_a_lone_request_is_answered_as_without_grouping(
    group: Group, settings: Any, broadcasts: list[Changes]
) -> None:
    client = client_for("engine")
    iid = new_id()
    batch = [workflow_started(iid), human_task_created(iid, 1, new_id())]
    group.gate.set()  # nobody to wait for

    grouped = client.post("/api/events", batch, content_type="application/json")
    assert group.gc.sizes == [1]
    settings.INGEST_GROUP_COMMIT = False
    again = client.post("/api/events", batch, content_type="application/json")
    assert group.gc.sizes == [1]  # not through the group

    assert grouped.status_code == again.status_code == 200
    first, second = grouped.json(), again.json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert [r["event_id"] for r in first["results"]] == [r["event_id"] for r in second["results"]]
    assert [r["status"] for r in second["results"]] == ["duplicate", "duplicate"]
    assert len(broadcasts) == 1 and broadcasts[0].instances == {uuid.UUID(iid)}
    # A refusal is the same either way.
    bad = [{"type": "WorkflowStarted"}]
    settings.INGEST_GROUP_COMMIT = True
    on = client.post("/api/events", bad, content_type="application/json")
    settings.INGEST_GROUP_COMMIT = False
    off = client.post("/api/events", bad, content_type="application/json")
    assert on.status_code == off.status_code == 422
    assert on.json() == off.json()
