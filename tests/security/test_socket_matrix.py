"""Who may watch what on the live socket: every kind of watch (live.consumers.WATCHES) for
every role, read off the channel layer's groups, so a new kind cannot be forgotten."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from config.asgi import application
from demo.users import ensure_demo_users
from live import broadcast
from live.consumers import WATCHES
from tests.support import events as b
from tests.support.inbox_world import role

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
PEOPLE = ("alice", "bob", "erin", "admin")  # assignee, other assignee, manager, admin


@pytest.fixture(autouse=True)
async def memory_layer(settings: Any) -> AsyncIterator[None]:
    # Group membership is read off the in-memory layer; the Redis runs cover delivery.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@database_sync_to_async
def make_world() -> dict[str, Any]:
    role("Admins"), role("Managers")  # a flushed database lost the migration's rows
    ensure_demo_users()
    iid, tid = b.waiting_instance(assignee="alice")
    return {"instance_id": str(iid), "task_id": str(tid)}


@database_sync_to_async
def cookie(username: str) -> bytes:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def watch_message(kind: str, world: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The message for ``kind`` aimed at alice's task or instance; the group it would join."""
    if kind == "task":
        message = {"watch": "task", "id": world["task_id"], "state": ""}
        return message, broadcast.task_group(world["task_id"])
    if kind == "instance":
        return {"watch": kind, "id": world["instance_id"]}, broadcast.instance_group(
            world["instance_id"]
        )
    if kind == "instances":
        return {"watch": kind}, broadcast.INSTANCE_LIST_GROUP
    if kind == "list":  # joins nothing: it picks which of the socket's own news to render
        return {"watch": kind, "mode": "queue", "query": "group=finance"}, None
    if kind == "unrouted":  # joins nothing either: an admin's socket is in it from connect
        return {"watch": kind, "query": "?page=1"}, None
    raise AssertionError(f"add the watch kind {kind!r} to this test and to EXPECTED")


# Which groups each person's socket may join by asking.
EXPECTED = {
    "task": {"alice": True, "bob": False, "erin": True, "admin": True},
    "instance": {"alice": False, "bob": False, "erin": True, "admin": True},
    "instances": {"alice": False, "bob": False, "erin": True, "admin": True},
    "list": {"alice": False, "bob": False, "erin": False, "admin": False},
    "unrouted": {"alice": False, "bob": False, "erin": False, "admin": False},
}
# Groups a socket is in from its connect, beyond its user's and its teams'.
AT_CONNECT = {
    broadcast.UNROUTED_GROUP: {"alice": False, "bob": False, "erin": False, "admin": True},
}


def test_every_watch_kind_is_in_the_matrix() -> None:
    assert set(EXPECTED) == set(WATCHES)


def groups_of(channel: str) -> set[str]:
    layer = get_channel_layer()
    return {name for name, members in layer.groups.items() if channel in members}


@pytest.mark.parametrize("kind", sorted(WATCHES))
@pytest.mark.parametrize("username", PEOPLE)
async def test_watch(kind: str, username: str) -> None:
    world = await make_world()
    comm = WebsocketCommunicator(
        application, "/ws/live/", headers=[*HEADERS, (b"cookie", await cookie(username))]
    )
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_from()  # the counts, on every connect
    layer = get_channel_layer()
    (channel,) = {c for members in layer.groups.values() for c in members}
    before = groups_of(channel)
    message, group = watch_message(kind, world)
    await comm.send_json_to(message)
    await comm.receive_nothing(0.2)
    joined = groups_of(channel) - before
    if EXPECTED[kind][username]:
        assert group in joined
    else:
        assert joined == set(), joined
    await comm.disconnect()


@pytest.mark.parametrize("username", PEOPLE)
async def test_groups_at_connect(username: str) -> None:
    """The Unrouted news (its count, its rows) reach admins' sockets only."""
    await make_world()
    comm = WebsocketCommunicator(
        application, "/ws/live/", headers=[*HEADERS, (b"cookie", await cookie(username))]
    )
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_from()
    layer = get_channel_layer()
    (channel,) = {c for members in layer.groups.values() for c in members}
    for group, who in AT_CONNECT.items():
        assert (group in groups_of(channel)) is who[username], group
    assert ('id="count-unrouted"' in first) is AT_CONNECT[broadcast.UNROUTED_GROUP][username]
    await comm.disconnect()


async def test_anonymous_sockets_are_refused() -> None:
    await make_world()
    comm = WebsocketCommunicator(application, "/ws/live/", headers=HEADERS)
    connected, _ = await comm.connect()
    assert not connected
