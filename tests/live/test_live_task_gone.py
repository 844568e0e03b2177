"""A live task page whose task leaves its viewer's sight (docs/architecture.md, Live updates).

The socket is told once that the task is gone (``live.fragments.GONE_BANNER``), never by
whom or to whom; it leaves the task's groups, so it hears nothing more of the task, and
presence never shows a viewer to someone who may not see the task, nor anyone to them.
Runs on the in-memory layer, or on Redis when REDIS_URL is set (``own_channel_layer``).
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from live import broadcast, fragments
from tests.live.test_live_consumer import (  # noqa: F401 (fixtures)
    QUIET,
    ingest,
    make_world,
    new_task,
    open_socket,
    own_channel_layer,
    received,
)
from tests.support import events as f
from workflows import actions
from workflows.models import HumanTask

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "MARK-REASON-FOR-MOVING"


@pytest.fixture
async def world() -> dict[str, User]:
    return await make_world()


@database_sync_to_async
def reassign(task_id: str, by: User, to: str) -> None:
    task = HumanTask.objects.get(task_id=task_id)
    actions.reassign_task(task=task, user=by, to_assignee=to, reason=REASON)


@database_sync_to_async
def complete(task_id: str, by: User) -> None:
    task = HumanTask.objects.get(task_id=task_id)
    actions.complete_task(task=task, user=by, form_data=None)


async def watch(user: User, task_id: str) -> WebsocketCommunicator:
    """A socket on the task page as rendered now (its state current: no re-sync banner)."""
    task = await database_sync_to_async(HumanTask.objects.get)(task_id=task_id)
    state = f"{task.status}:{task.assignee_user_id or ''}:{task.assignee_group_id or ''}"
    return await open_socket(user, {"watch": "task", "id": task_id, "state": state})


def names_nobody(html: str, *names: str) -> None:
    for name in (*names, REASON):
        assert name not in html, (name, html)


async def alices_task() -> str:
    event, _, task_id = new_task("alice", "Pay the supplier")
    await ingest(event)
    return task_id


async def test_a_page_that_loses_its_task_is_told_once_and_hears_nothing_more(
    world: dict[str, User],
) -> None:
    task_id = await alices_task()
    alice = await watch(world["alice"], task_id)

    await reassign(task_id, world["admin"], "bob")
    gone = await received(alice)
    assert fragments.GONE_BANNER in gone
    assert 'id="task-banner"' in gone and "data-live-stale" in gone
    names_nobody(gone, "bob", "admin", "reassigned")
    assert "Also viewing" not in gone

    # bob opens the task: neither page shows the other.
    bob = await watch(world["bob"], task_id)
    assert await alice.receive_nothing(QUIET)
    assert await bob.receive_nothing(QUIET)

    # bob completes it: alice's page hears nothing of it.
    await complete(task_id, world["bob"])
    assert await alice.receive_nothing(QUIET)
    await alice.disconnect()
    await bob.disconnect()


async def test_others_still_viewing_see_the_lost_viewer_leave(world: dict[str, User]) -> None:
    task_id = await alices_task()
    admin = await watch(world["admin"], task_id)
    alice = await watch(world["alice"], task_id)
    assert "Also viewing: alice" in await received(admin)
    assert "Also viewing: admin" in await received(alice)

    await reassign(task_id, world["admin"], "bob")  # admin's own action: no banner for him
    gone = await received(alice)
    assert fragments.GONE_BANNER in gone
    names_nobody(gone, "bob", "admin")
    left = await received(admin)
    assert 'id="task-presence"' in left and "alice" not in left
    await alice.disconnect()
    await admin.disconnect()


async def test_presence_does_not_cross_the_boundary_when_the_change_was_lost(
    world: dict[str, User], monkeypatch: Any
) -> None:
    """The layer delivers at most once: a page that missed the change must still not show
    the new holder, nor be shown to them, when they open the task."""
    task_id = await alices_task()
    alice = await watch(world["alice"], task_id)
    with monkeypatch.context() as lost:
        lost.setattr(broadcast, "send_changes", lambda changes: None)
        await reassign(task_id, world["admin"], "bob")
    assert await alice.receive_nothing(QUIET)  # the broadcast was lost

    bob = await watch(world["bob"], task_id)
    gone = await received(alice)  # bob's arrival made alice's socket look again
    assert fragments.GONE_BANNER in gone
    names_nobody(gone, "bob", "admin")
    assert await bob.receive_nothing(QUIET)  # alice did not answer "I am here"

    await complete(task_id, world["bob"])
    assert await alice.receive_nothing(QUIET)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_presence_reply_is_not_shown_to_a_viewer_who_lost_the_task(
    world: dict[str, User], monkeypatch: Any
) -> None:
    task_id = await alices_task()
    alice = await watch(world["alice"], task_id)
    with monkeypatch.context() as lost:
        lost.setattr(broadcast, "send_changes", lambda changes: None)
        await reassign(task_id, world["admin"], "bob")
    # A "here" from bob's page reaches alice's socket before it heard of the change.
    here = broadcast.PresenceHere(
        type="presence.here", task_id=task_id, channel="bobs-page", username="bob"
    )
    await get_channel_layer().group_send(broadcast.presence_group(task_id), dict(here))
    gone = await received(alice)
    assert fragments.GONE_BANNER in gone
    names_nobody(gone, "bob", "admin")
    await alice.disconnect()


async def test_a_viewer_who_regains_the_task_can_watch_it_again(world: dict[str, User]) -> None:
    task_id = await alices_task()
    admin = await watch(world["admin"], task_id)
    alice = await watch(world["alice"], task_id)
    assert "Also viewing: alice" in await received(admin)
    assert "Also viewing: admin" in await received(alice)

    await reassign(task_id, world["admin"], "bob")
    assert fragments.GONE_BANNER in await received(alice)
    assert "alice" not in await received(admin)

    await reassign(task_id, world["admin"], "alice")
    back = await received(alice)  # her list hears of it; the page waits to be asked again
    assert "New task: Pay the supplier" in back and "task-banner" not in back
    assert await admin.receive_nothing(QUIET)

    task = await database_sync_to_async(HumanTask.objects.get)(task_id=task_id)
    state = f"open:{world['alice'].pk}:"
    await alice.send_json_to({"watch": "task", "id": task_id, "state": state})
    assert "Also viewing: admin" in await received(alice)
    assert "Also viewing: alice" in await received(admin)

    await ingest(f.human_task_completed(task.instance_id, 9, task_id=task_id, completed_by="carol"))
    assert "carol already completed this task" in await received(alice)
    await alice.disconnect()
    await admin.disconnect()


async def test_asking_to_watch_a_task_one_may_not_see_keeps_the_page_one_watches(
    world: dict[str, User],
) -> None:
    task_id = await alices_task()
    event, _, bobs_task = new_task("bob", "Not for alice")
    await ingest(event)
    alice = await watch(world["alice"], task_id)
    await alice.send_json_to({"watch": "task", "id": bobs_task, "state": ""})
    assert await alice.receive_nothing(QUIET)
    # still on her own task's page: a viewer arriving there sees her, and she sees them
    admin = await watch(world["admin"], task_id)
    assert "Also viewing: alice" in await received(admin)
    assert "Also viewing: admin" in await received(alice)
    await complete(task_id, world["admin"])
    assert "admin already completed this task" in await received(alice)
    await alice.disconnect()
    await admin.disconnect()
