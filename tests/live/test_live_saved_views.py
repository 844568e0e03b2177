"""Saved views' counts on the live socket: sent with the navigation's counts on connect,
and again whenever a change moves the counts of the lists they filter."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from savedviews.models import SavedView
from tests.live.test_live_consumer import (
    QUIET,
    connect,
    ingest,
    new_task,
    open_socket,
    own_channel_layer,
    received,
    world,
)
from tests.support import events as f

__all__ = ["own_channel_layer", "world"]

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def view(user: User, page: str, name: str, query: str = "") -> SavedView:
    return SavedView.objects.create(owner=user, page=page, name=name, query=query)


def count(v: SavedView, n: int) -> str:
    return f'id="count-view-{v.pk}" aria-label="{n} matching" hx-swap-oob="true">{n}</span>'


async def test_view_counts_come_with_the_counts_on_connect(world: dict[str, User]) -> None:
    event, _, _ = new_task("alice", "Pay invoice")
    await ingest(event)
    invoices = await view(world["alice"], "my_tasks", "Invoices", "q=invoice")
    trips = await view(world["alice"], "my_tasks", "Trips", "q=trip")
    comm = await connect(world["alice"])
    assert (await comm.connect())[0]
    first = await comm.receive_from()
    assert 'id="count-my"' in first
    assert count(invoices, 1) in first and count(trips, 0) in first
    await comm.disconnect()


async def test_a_new_task_updates_the_counts_of_the_views_it_may_match(
    world: dict[str, User],
) -> None:
    alice, bob = world["alice"], world["bob"]
    invoices = await view(alice, "my_tasks", "Invoices", "q=invoice")
    team = await view(alice, "team_queues", "Finance", "group=finance")
    bobs = await view(bob, "my_tasks", "Bob's")
    socket = await open_socket(alice)  # any page: the counts are in the navigation
    bob_socket = await open_socket(bob)

    event, _, _ = new_task("alice", "Pay invoice 7")
    await ingest(event)
    html = await received(socket)
    assert count(invoices, 1) in html
    assert f"count-view-{team.pk}" not in html  # her queue did not move
    assert f"count-view-{bobs.pk}" not in html  # never another person's views
    assert await bob_socket.receive_nothing(QUIET)

    queued, _, _ = new_task("group:finance", "Queue work")
    await ingest(queued)
    html = await received(socket)
    assert count(team, 1) in html
    assert f"count-view-{invoices.pk}" not in html
    await socket.disconnect()
    await bob_socket.disconnect()


async def test_instance_view_counts_follow_instance_changes_for_console_readers(
    world: dict[str, User],
) -> None:
    admin = world["admin"]
    running = await view(admin, "instances", "Running", "status=running")
    socket = await open_socket(admin)
    instance_id = f.new_id()
    await ingest(f.workflow_started(instance_id, 0))
    assert count(running, 1) in await received(socket)
    await ingest(f.workflow_completed(instance_id, 1))
    html = await received(socket)
    assert count(running, 0) in html
    assert "instance-row" not in html  # counts only: this page does not show the list
    await socket.disconnect()


async def test_instance_views_get_no_instance_news_without_the_console(
    world: dict[str, User],
) -> None:
    # A view kept from when alice could read the console: no count, no instance broadcast.
    kept = await view(world["alice"], "instances", "Old", "")
    comm = await connect(world["alice"])
    assert (await comm.connect())[0]
    assert f"count-view-{kept.pk}" not in await comm.receive_from()
    await ingest(f.workflow_started(f.new_id(), 0))
    assert await comm.receive_nothing(QUIET)
    await comm.disconnect()
