"""A live row reads like a reload: rendered on its socket user's clock (saved zone, else the
browser's ``tz`` cookie), even when the same broadcast is shared between sockets."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from config.asgi import application
from tests.live.test_live_consumer import (  # noqa: F401 (fixtures)
    HOST,
    ORIGIN,
    ingest,
    new_task,
    own_channel_layer,
    pytestmark,
    received,
    session_cookie,
    world,
)
from workflows.preferences import save_preferences


async def queue_socket(user: User, tz: str | None = None) -> WebsocketCommunicator:
    cookie = await session_cookie(user)
    if tz is not None:
        cookie += f"; tz={tz}".encode()
    comm = WebsocketCommunicator(
        application, "/ws/live/", headers=[HOST, ORIGIN, (b"cookie", cookie)]
    )
    assert (await comm.connect())[0]
    await comm.receive_from()  # the counts
    await comm.send_json_to({"watch": "list", "mode": "queue", "query": ""})
    await comm.receive_nothing(0.1)
    return comm


async def test_each_socket_renders_rows_in_its_own_users_zone(
    world: dict[str, User],  # noqa: F811 (the fixture imported above)
) -> None:
    await database_sync_to_async(save_preferences)(
        world["alice"], time_zone="Asia/Tokyo", notify_assigned=False, notify_digest=False
    )
    alice = await queue_socket(world["alice"], tz="Europe/Paris")  # the saved zone wins
    carol = await queue_socket(world["carol"], tz="America%2FNew_York")
    event, _, task_id = new_task("finance", "For the team", due_at="2026-07-01T12:34:56Z")
    await ingest(event)

    seen_by_alice, seen_by_carol = await received(alice), await received(carol)
    row = f'id="task-row-{task_id}"'
    assert row in seen_by_alice and row in seen_by_carol
    assert "2026-07-01 21:34:56 Asia/Tokyo · 2026-07-01 12:34:56 UTC" in seen_by_alice
    assert "2026-07-01 08:34:56 America/New_York · 2026-07-01 12:34:56 UTC" in seen_by_carol
    assert "Asia/Tokyo" not in seen_by_carol and "Europe/Paris" not in seen_by_alice
    await alice.disconnect()
    await carol.disconnect()
