"""What the live region (#live-announcer) says when a task leaves a list (issue 11, item 9):
who completed, claimed or reassigned it, as far as the listener may still see the task."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from django.contrib.auth.models import User

from live import fragments
from tests.live.test_live_consumer import (  # noqa: F401 (own_channel_layer is autouse)
    ingest,
    make_world,
    new_task,
    open_socket,
    own_channel_layer,
    received,
)
from tests.support import events as f

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def world() -> AsyncIterator[dict[str, User]]:
    yield await make_world()


def announced(html: str) -> str:
    """The text the live region is given (one message may hold one announcer at most)."""
    regions = re.findall(r'<div id="live-announcer" hx-swap-oob="innerHTML">(.*?)</div>', html)
    assert len(regions) == 1, html
    return re.sub(r"<[^>]+>", "", regions[0])


async def test_a_completion_by_a_teammate_is_announced_with_who(world: dict[str, User]) -> None:
    event, instance_id, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "queue", "query": ""})
    await ingest(f.human_task_completed(instance_id, 3, task_id=task_id, completed_by="carol"))
    html = await received(alice)
    assert f'<tr id="task-row-{task_id}" hx-swap-oob="delete"></tr>' in html
    assert announced(html) == "Task “Pay the supplier” was removed: completed by carol."
    await alice.disconnect()


async def test_a_claim_says_only_that_the_task_left_to_whoever_no_longer_sees_it(
    world: dict[str, User],
) -> None:
    event, instance_id, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "queue", "query": ""})
    carol = await open_socket(world["carol"], {"watch": "list", "mode": "queue", "query": ""})
    await ingest(
        f.human_task_reassigned(
            instance_id,
            2,
            task_id=task_id,
            from_assignee="group:finance",
            to_assignee="user:carol",
            reassigned_by="carol",
        )
    )
    # alice may no longer see the task: not by whom, not to whom.
    assert announced(await received(alice)) == (
        "Task “Pay the supplier” was removed from your team queues."
    )
    # carol claimed it: her queue page says so, and that it is new in her own list.
    said = announced(await received(carol))
    assert "Task “Pay the supplier” was removed: claimed by you." in said
    assert "New task: Pay the supplier" in said
    await alice.disconnect()
    await carol.disconnect()


async def test_a_task_closed_with_its_workflow_is_announced(world: dict[str, User]) -> None:
    event, instance_id, _ = new_task("alice", "Sign the contract")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "mine", "query": ""})
    await ingest(f.workflow_canceled(instance_id, 5))
    said = announced(await received(alice))
    assert said == "Task “Sign the contract” was removed: closed (workflow canceled)."
    await alice.disconnect()


def test_announcer_escapes_and_tags_notifications() -> None:
    html = fragments.announcer([("t-1", "New task: <b>x</b>"), ("", "Task “y” was removed.")])
    assert html == (
        '<div id="live-announcer" hx-swap-oob="innerHTML">'
        '<span data-notify="t-1">New task: &lt;b&gt;x&lt;/b&gt;</span> '
        "<span>Task “y” was removed.</span></div>"
    )
    assert fragments.announcer([]) == ""
