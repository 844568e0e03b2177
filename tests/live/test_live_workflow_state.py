"""A task page hears its workflow's state: a pause shows the banner and holds the complete
form, a resume takes them away, and a page rendered before either is told on (re)connect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from tests.live.test_live_consumer import (
    QUIET,
    ingest,
    make_world,
    new_task,
    open_socket,
    own_channel_layer,  # noqa: F401  (an autouse fixture: a channel layer of our own)
    received,
)
from tests.support import events as f
from workflows import actions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def world() -> AsyncIterator[dict[str, Any]]:
    yield await make_world()


def watch(task_id: str, workflow: str) -> dict[str, Any]:
    return {"watch": "task", "id": task_id, "state": "", "workflow": workflow}


async def test_pause_and_resume_reach_the_task_page(world: dict[str, Any]) -> None:
    event, instance_id, task_id = new_task("alice", "Pay the supplier")
    await ingest(event)
    alice = await open_socket(world["alice"], watch(task_id, "waiting"))
    bob = await open_socket(world["bob"], watch(task_id, "waiting"))  # may not see the task

    await database_sync_to_async(actions.pause_instance)(
        instance_id=instance_id, user=world["admin"], reason="audit first"
    )
    paused = await received(alice)
    assert 'id="workflow-state"' in paused and 'hx-swap-oob="true"' in paused
    assert "data-hold-complete" in paused
    assert "This workflow is paused by admin since " in paused
    assert ": audit first. The task can be completed when it resumes." in paused
    assert 'id="task-instance-status" class="badge status-paused"' in paused
    assert await bob.receive_nothing(QUIET)

    # A change of the instance that leaves its state as it was sends no banner again.
    await ingest(f.step_started(instance_id, 5, "archive"))
    assert await alice.receive_nothing(QUIET)

    await database_sync_to_async(actions.resume_instance)(
        instance_id=instance_id, user=world["admin"]
    )
    resumed = await received(alice)
    assert 'id="workflow-state"' in resumed and "data-hold-complete" not in resumed
    assert "This workflow" not in resumed
    assert 'class="badge status-waiting"' in resumed
    await alice.disconnect()
    await bob.disconnect()


async def test_a_page_rendered_before_a_pause_is_told_when_it_watches(
    world: dict[str, Any],
) -> None:
    event, instance_id, task_id = new_task("alice")
    await ingest(event)
    await ingest(f.workflow_paused(instance_id, 3, reason="engine maintenance"))
    alice = await open_socket(world["alice"])
    await alice.send_json_to(watch(task_id, "waiting"))
    told = await received(alice)
    assert "data-hold-complete" in told
    assert "This workflow is paused by its engine since " in told
    await alice.disconnect()


async def test_a_page_that_shows_the_current_state_is_told_nothing(world: dict[str, Any]) -> None:
    event, _, task_id = new_task("alice")
    await ingest(event)
    alice = await open_socket(world["alice"])
    message = {**watch(task_id, "waiting"), "state": f"open:{world['alice'].pk}:"}
    await alice.send_json_to(message)
    assert await alice.receive_nothing(QUIET)
    await alice.disconnect()


async def test_a_cancel_tells_the_page_how_the_workflow_ended(world: dict[str, Any]) -> None:
    event, instance_id, task_id = new_task("alice")
    await ingest(event)
    alice = await open_socket(world["alice"], watch(task_id, "waiting"))
    await database_sync_to_async(actions.cancel_instance)(
        instance_id=instance_id, user=world["admin"], reason="duplicate"
    )
    told = await received(alice)
    assert "data-live-stale" in told  # the task closed: every form goes off
    assert "This workflow was canceled by admin on " in told
    assert ": duplicate. Its tasks can no longer be completed." in told
    await alice.disconnect()
