"""A broadcast the channel layer refuses (Redis down) is counted and logged, never raised
into the request, the action or the ingest that caused it; the commit stands."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from live import broadcast
from live.metrics import LIVE_BROADCAST_FAILURES
from tests.support import events as f
from workflows.ingest import ingest_events
from workflows.models import HumanTask


class DownLayer(InMemoryChannelLayer):
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


@pytest.mark.django_db(transaction=True)
def test_ingest_commits_and_counts_each_message_redis_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(broadcast, "get_channel_layer", DownLayer)
    planned: list[int] = []
    plan = broadcast.plan

    def counted_plan(changes: Any) -> Any:
        messages = plan(changes)
        planned.append(len(messages))
        return messages

    monkeypatch.setattr(broadcast, "plan", counted_plan)
    before = LIVE_BROADCAST_FAILURES._value.get()
    task_id = f.new_id()
    event = f.human_task_created(f.new_id(), 1, task_id=task_id, assignee="group:everyone")
    with caplog.at_level(logging.ERROR, logger="live.broadcast"):
        ingest_events(events=[event], source="test")  # does not raise
    assert HumanTask.objects.filter(task_id=task_id).exists()
    assert planned and planned[0] >= 3  # the task, the team queue, the instance
    assert LIVE_BROADCAST_FAILURES._value.get() - before == sum(planned)
    assert any("live broadcast to" in r.getMessage() for r in caplog.records)
