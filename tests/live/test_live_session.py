"""A live socket ends with its session (hardening, item 10): sign-out closes that session's
sockets, a password change closes all the user's sockets, and an expired or deleted session
is closed by the socket's own check. The close code is live.sessions.SESSION_ENDED (4401),
and nothing is sent after it.

The ``own_channel_layer`` fixture runs these on the in-memory layer, or on Redis when
REDIS_URL is set.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone

from config.asgi import application
from live.sessions import SESSION_ENDED
from tests.live.test_live_consumer import (  # noqa: F401 (a fixture)
    HOST,
    ORIGIN,
    ingest,
    new_task,
    own_channel_layer,
    received,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "session-test-pw-1"
CLOSED = {"type": "websocket.close", "code": SESSION_ENDED}


@database_sync_to_async
def make_users() -> dict[str, User]:
    return {n: User.objects.create_user(n, password=PASSWORD) for n in ("alice", "bob")}


@database_sync_to_async
def signed_in(username: str) -> Client:
    """A browser of its own: a real sign-in, so sign-out goes through Django's logout."""
    client = Client()
    assert client.login(request=HttpRequest(), username=username, password=PASSWORD)
    return client


async def open_socket(client: Client) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    comm = WebsocketCommunicator(
        application, "/ws/live/", headers=[HOST, ORIGIN, (b"cookie", cookie)]
    )
    connected, _ = await comm.connect()
    assert connected
    assert 'id="count-my"' in await comm.receive_from()  # the counts, on every connect
    return comm


async def closed_for_session(comm: WebsocketCommunicator, timeout: float = 2) -> None:
    assert await comm.receive_output(timeout) == CLOSED


async def hears_nothing_more(comm: WebsocketCommunicator, username: str) -> None:
    """A new task for the user is not sent to the closed socket."""
    event, _, _ = new_task(username, title="After the end")
    await ingest(event)
    assert await comm.receive_nothing(0.5)


@pytest.fixture
async def users() -> dict[str, User]:
    return await make_users()


async def test_sign_out_closes_that_sessions_sockets_only(users: dict[str, User]) -> None:
    here, elsewhere = await signed_in("alice"), await signed_in("alice")
    mine, other_browser = await open_socket(here), await open_socket(elsewhere)
    bob = await open_socket(await signed_in("bob"))

    response = await sync_to_async(here.post)("/accounts/logout/")
    assert response.status_code == 302

    await closed_for_session(mine)
    assert await other_browser.receive_nothing(0.3)
    assert await bob.receive_nothing(0.1)
    await hears_nothing_more(mine, "alice")
    # The other browser is still signed in, and still live.
    event, _, task_id = new_task("alice", title="Still live elsewhere")
    await ingest(event)
    assert task_id in await received(other_browser)
    for comm in (other_browser, bob):
        await comm.disconnect()


async def test_a_password_change_closes_every_socket_of_the_user(users: dict[str, User]) -> None:
    first, second = (
        await open_socket(await signed_in("alice")),
        await open_socket(await signed_in("alice")),
    )
    bob = await open_socket(await signed_in("bob"))

    @database_sync_to_async
    def change_password() -> None:
        alice = User.objects.get(username="alice")
        alice.set_password("a-new-password-2")
        alice.save()

    await change_password()

    await closed_for_session(first)
    await closed_for_session(second)
    await hears_nothing_more(first, "alice")
    assert await second.receive_nothing(0.1)
    assert await bob.receive_nothing(0.1)
    await bob.disconnect()


async def test_an_admins_password_change_in_the_admin_closes_the_users_sockets(
    users: dict[str, User],
) -> None:
    socket = await open_socket(await signed_in("alice"))

    @database_sync_to_async
    def admin_changes_it() -> int:
        User.objects.create_superuser("root", password=PASSWORD)
        admin = Client()
        admin.force_login(User.objects.get(username="root"))
        url = f"/admin/auth/user/{users['alice'].pk}/password/"
        form = {"password1": "changed-by-admin-3", "password2": "changed-by-admin-3"}
        return admin.post(url, {**form, "usable_password": "true"}).status_code

    assert await admin_changes_it() == 302
    await closed_for_session(socket)


async def test_saving_the_user_without_a_new_password_keeps_the_socket(
    users: dict[str, User],
) -> None:
    socket = await open_socket(await signed_in("alice"))

    @database_sync_to_async
    def rename() -> None:
        alice = User.objects.get(username="alice")
        alice.first_name = "Alice"
        alice.save()

    await rename()
    event, _, task_id = new_task("alice")
    await ingest(event)
    assert task_id in await received(socket)
    await socket.disconnect()


@pytest.mark.parametrize("how", ["expired", "deleted"])
async def test_a_session_that_ends_in_the_store_is_closed_within_the_check_period(
    users: dict[str, User], settings: Any, how: str
) -> None:
    settings.LIVE_SESSION_CHECK_SECONDS = 0.2
    client = await signed_in("alice")
    socket = await open_socket(client)
    assert await socket.receive_nothing(0.5)  # a few checks pass while the session is good
    key = client.cookies["sessionid"].value

    @database_sync_to_async
    def end_it() -> None:
        sessions = Session.objects.filter(session_key=key)
        if how == "expired":
            sessions.update(expire_date=timezone.now() - timedelta(seconds=1))
        else:
            sessions.delete()

    await end_it()
    await closed_for_session(socket, timeout=1.5)
    await hears_nothing_more(socket, "alice")


async def test_an_expired_session_hears_nothing_even_before_the_timer(
    users: dict[str, User], settings: Any
) -> None:
    settings.LIVE_SESSION_CHECK_SECONDS = 3600
    client = await signed_in("alice")
    socket = await open_socket(client)
    key = client.cookies["sessionid"].value
    await database_sync_to_async(Session.objects.filter(session_key=key).update)(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    event, _, _ = new_task("alice", title="Not for an expired session")
    await ingest(event)

    assert await socket.receive_output(2) == CLOSED  # closed, and the task was not sent
    assert await socket.receive_nothing(0.3)
