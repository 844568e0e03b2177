"""Unrouted, live: a task that arrives unrouted appears on admins' Unrouted pages where a
fresh load puts it, a routed one disappears, and every admin socket's count follows;
nobody else hears of it."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from tests.live.test_live_consumer import (  # noqa: F401 (the fixture is used by name)
    QUIET,
    ingest,
    make_world,
    new_task,
    open_socket,
    own_channel_layer,
    received,
)
from workflows import actions
from workflows.models import HumanTask

pytestmark = pytest.mark.django_db(transaction=True)

WATCH = {"watch": "unrouted", "query": ""}


@pytest.fixture
async def world() -> dict[str, User]:
    return await make_world()


@database_sync_to_async
def route(task_id: str, to: str, admin: User) -> None:
    task = HumanTask.objects.get(task_id=task_id)
    actions.route_task(task=task, user=admin, to_assignee=to)


async def test_unrouted_rows_and_count_follow_the_tasks(world: dict[str, Any]) -> None:
    first, _, first_id = new_task("ghost", "First", due_at="2030-01-02T00:00:00Z")
    await ingest(first)
    admin = await open_socket(world["admin"], WATCH)
    elsewhere = await open_socket(world["admin"])  # another page: the count only
    alice = await open_socket(world["alice"], WATCH)  # not an admin: nothing

    # Overdue comes first: a new overdue task goes before the one due later.
    late, _, late_id = new_task("nobody", "Late", due_at="2020-01-01T00:00:00Z")
    await ingest(late)
    html = await received(admin)
    assert f'id="unrouted-row-{late_id}"' in html
    assert f'hx-swap-oob="beforebegin:#unrouted-row-{first_id}"' in html
    assert "Overdue</span>" in html and "data-live-new" in html
    assert 'id="count-unrouted" aria-label="2 unrouted" hx-swap-oob="true"' in html
    other = await received(elsewhere)
    assert 'aria-label="2 unrouted"' in other and "unrouted-row" not in other
    assert await alice.receive_nothing(QUIET)

    # Routed: the row goes, the count drops; alice now holds it and hears of her task.
    await route(late_id, "alice", world["admin"])
    html = await received(admin)
    assert f'<tr id="unrouted-row-{late_id}" hx-swap-oob="delete"></tr>' in html
    assert 'aria-label="1 unrouted"' in html
    assert 'aria-label="1 unrouted"' in await received(elsewhere)
    mine = await received(alice)
    assert "unrouted" not in mine and 'id="count-my"' in mine

    # A task for someone else never reaches Unrouted's sockets.
    routed, _, _ = new_task("alice", "Routed")
    await ingest(routed)
    assert await admin.receive_nothing(QUIET)
    for comm in (admin, elsewhere, alice):
        await comm.disconnect()


async def test_a_new_task_on_another_page_is_counted_not_shown(world: dict[str, Any]) -> None:
    admin = await open_socket(world["admin"], {"watch": "unrouted", "query": "?page=2"})
    event, _, task_id = new_task("ghost", "Not on page two")
    await ingest(event)
    html = await received(admin)
    assert 'aria-label="1 unrouted"' in html
    assert task_id not in html
    await admin.disconnect()
