"""The live socket as a client sees it: who may connect, which group hears what, and that
nothing a client sends can make it hear what its user may not see."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from config.asgi import application
from tests.support import events as f
from workflows import actions
from workflows.models import HumanTask, WorkflowInstance

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"127.0.0.1")  # the Origin must be the site's own: live/origin.py
ORIGIN = (b"origin", b"http://127.0.0.1")
QUIET = 0.3  # seconds a socket must stay silent to count as "received nothing"


@pytest.fixture(autouse=True)
async def own_channel_layer(settings: Any) -> AsyncIterator[None]:
    """A key prefix of our own on Redis, so parallel runs never hear each other."""
    if os.environ.get("REDIS_URL"):
        layers = {"default": {**settings.CHANNEL_LAYERS["default"]}}
        layers["default"]["CONFIG"] = {
            **layers["default"]["CONFIG"],
            "prefix": f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        }
        settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    for layer in list(channel_layers.backends.values()):
        # A Redis receive that outlived its consumer holds a blocking pop; closing the
        # pools ends it, so the test's event loop can close.
        close = getattr(layer, "close_pools", None)
        if close is not None:
            await close()
    channel_layers.backends.clear()


def _perm(codename: str) -> Permission:
    ct = ContentType.objects.get_for_model(WorkflowInstance)
    return Permission.objects.get_or_create(
        content_type=ct, codename=codename, defaults={"name": codename}
    )[0]


@database_sync_to_async
def make_world() -> dict[str, User]:
    finance = Group.objects.create(name="finance")
    legal = Group.objects.create(name="legal")
    users = {
        name: User.objects.create_user(name, password="pw")
        for name in ("alice", "bob", "carol", "dave", "admin")
    }
    users["alice"].groups.add(finance)
    users["carol"].groups.add(finance)
    users["bob"].groups.add(legal)
    users["admin"].user_permissions.add(_perm("manage_instances"))
    return users


@database_sync_to_async
def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(
    user: User | None, *, origin: tuple[bytes, bytes] = ORIGIN
) -> WebsocketCommunicator:
    headers = [HOST, origin]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


async def open_socket(user: User, *watch: dict[str, Any]) -> WebsocketCommunicator:
    comm = await connect(user)
    connected, _ = await comm.connect()
    assert connected
    first = await comm.receive_from()  # the counts, re-synced on every connect
    assert 'id="count-my"' in first
    for message in watch:
        await comm.send_json_to(message)
    if watch:
        await comm.receive_nothing(0.1)  # let the watch land before anything is broadcast
    return comm


async def received(comm: WebsocketCommunicator) -> str:
    """Everything a broadcast brought (table rows come in messages of their own)."""
    messages = [await comm.receive_from(timeout=2)]
    while not await comm.receive_nothing(0.15):
        messages.append(await comm.receive_from())
    for message in messages:
        if "<tr" in message:  # htmx parses rows only when the message starts with them
            assert message.lstrip().startswith(("<tr", "<tbody")), message
    return "".join(messages)


async def ingest(*events: dict[str, Any]) -> None:
    await database_sync_to_async(f.ingest)(list(events))


@pytest.fixture
async def world() -> AsyncIterator[dict[str, User]]:
    yield await make_world()


def new_task(
    assignee: str, title: str = "Approve expense report", **kw: Any
) -> tuple[dict[str, Any], str, str]:
    instance_id, task_id = f.new_id(), f.new_id()
    return (
        f.human_task_created(instance_id, 1, task_id=task_id, assignee=assignee, title=title, **kw),
        instance_id,
        task_id,
    )


# --- who may connect -----------------------------------------------------------------------


async def test_anonymous_is_refused(world: dict[str, User]) -> None:
    comm = await connect(None)
    connected, _ = await comm.connect()
    assert not connected


async def test_a_foreign_origin_is_refused_even_when_signed_in(world: dict[str, User]) -> None:
    comm = await connect(world["alice"], origin=(b"origin", b"http://evil.example"))
    connected, _ = await comm.connect()
    assert not connected


async def test_a_signed_in_user_gets_their_counts_on_connect(world: dict[str, User]) -> None:
    event, _, _ = new_task("alice")
    await ingest(event)
    comm = await connect(world["alice"])
    assert (await comm.connect())[0]
    counts = await comm.receive_from()
    assert 'id="count-my" aria-label="1 open" hx-swap-oob="true">1</span>' in counts
    await comm.disconnect()


# --- each group hears what it should and nothing else --------------------------------------


async def test_alice_gets_her_new_task_and_bob_hears_nothing(world: dict[str, User]) -> None:
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "mine", "query": ""})
    bob = await open_socket(world["bob"], {"watch": "list", "mode": "mine", "query": ""})
    event, _, task_id = new_task("alice", "Approve expense report")
    await ingest(event)

    html = await received(alice)
    assert f'id="task-row-{task_id}"' in html
    assert 'hx-swap-oob="beforeend:#task-rows"' in html
    assert "New task: Approve expense report" in html
    assert 'id="count-my" aria-label="1 open" hx-swap-oob="true"' in html
    assert await bob.receive_nothing(QUIET)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_new_row_goes_where_a_fresh_load_puts_it(world: dict[str, User]) -> None:
    later, _, later_id = new_task("alice", "Later", due_date="2030-01-02T00:00:00Z")
    await ingest(later)
    alice = await open_socket(
        world["alice"], {"watch": "list", "mode": "mine", "query": "sort=due"}
    )
    sooner, _, _ = new_task("alice", "Sooner", due_date="2030-01-01T00:00:00Z")
    await ingest(sooner)
    assert f'hx-swap-oob="beforebegin:#task-row-{later_id}"' in await received(alice)
    await alice.disconnect()


async def test_a_filtered_list_does_not_get_rows_outside_its_filter(world: dict[str, User]) -> None:
    alice = await open_socket(
        world["alice"], {"watch": "list", "mode": "mine", "query": "?q=invoice"}
    )
    event, _, task_id = new_task("alice", "Approve expense report")
    await ingest(event)
    html = await received(alice)
    assert "New task: Approve expense report" in html  # announced, counted…
    assert f'id="task-row-{task_id}"' not in html  # …but not shown in a list it does not match
    await alice.disconnect()


async def test_a_finance_member_gets_the_finance_queue_change(world: dict[str, User]) -> None:
    carol = await open_socket(world["carol"], {"watch": "list", "mode": "queue", "query": ""})
    bob = await open_socket(world["bob"], {"watch": "list", "mode": "queue", "query": ""})
    event, _, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)

    html = await received(carol)
    assert f'id="task-row-{task_id}"' in html
    assert "New in your team queue: Pay the supplier" in html
    assert 'id="count-queues" aria-label="1 open" hx-swap-oob="true"' in html
    finance = await database_sync_to_async(Group.objects.get)(name="finance")
    assert f'id="count-queue-{finance.pk}" hx-swap-oob="true">1<' in html
    assert await bob.receive_nothing(QUIET)
    await carol.disconnect()
    await bob.disconnect()


async def test_a_claimed_task_leaves_the_queue_and_arrives_once_in_my_list(
    world: dict[str, User],
) -> None:
    event, instance_id, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "queue", "query": ""})
    carol = await open_socket(world["carol"], {"watch": "list", "mode": "mine", "query": ""})
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
    gone = await received(alice)
    assert f'<tr id="task-row-{task_id}" hx-swap-oob="delete"></tr>' in gone
    assert 'id="count-queues" aria-label="0 open"' in gone

    # carol hears it through her user group and her team's group: one row, not two.
    arrived = await received(carol)
    assert arrived.count(f'id="task-row-{task_id}"') == 1
    assert await carol.receive_nothing(QUIET)
    await alice.disconnect()
    await carol.disconnect()


async def test_claim_release_claim_again_is_heard_every_time(world: dict[str, User]) -> None:
    event, instance_id, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "queue", "query": ""})

    def hand(ts: int, frm: str, to: str) -> dict[str, Any]:
        return f.human_task_reassigned(
            instance_id,
            ts,
            task_id=task_id,
            from_assignee=frm,
            to_assignee=to,
            reassigned_by="carol",
        )

    gone = f'<tr id="task-row-{task_id}" hx-swap-oob="delete"></tr>'
    await ingest(hand(2, "group:finance", "user:carol"))
    assert gone in await received(alice)
    await ingest(hand(3, "user:carol", "group:finance"))
    assert f'id="task-row-{task_id}"' in await received(alice)
    # The same change as the first one, in a later ingest: the row must leave again.
    await ingest(hand(4, "group:finance", "user:carol"))
    assert gone in await received(alice)
    await alice.disconnect()


async def test_a_task_closed_by_the_end_of_its_instance_leaves_the_list(
    world: dict[str, User],
) -> None:
    event, instance_id, task_id = new_task("alice")
    await ingest(event)
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "mine", "query": ""})
    await ingest(f.workflow_canceled(instance_id, 5))
    html = await received(alice)
    assert f'<tr id="task-row-{task_id}" hx-swap-oob="delete"></tr>' in html
    assert 'id="count-my" aria-label="0 open"' in html
    await alice.disconnect()


# --- the task page: banner and presence ----------------------------------------------------


async def test_someone_else_completing_my_task_page_shows_who_and_turns_the_forms_off(
    world: dict[str, User],
) -> None:
    event, _, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    watch = {"watch": "task", "id": task_id, "state": "open::" + str(await _group_id("finance"))}
    alice = await open_socket(world["alice"], watch)
    carol = await open_socket(world["carol"], watch)
    assert "Also viewing: carol" in await received(alice)
    assert "Also viewing: alice" in await received(carol)

    task = await database_sync_to_async(HumanTask.objects.get)(task_id=task_id)
    await database_sync_to_async(actions.complete_task)(
        task=task, user=world["carol"], form_data=None
    )

    banner = await received(alice)
    assert 'id="task-banner"' in banner and "data-live-stale" in banner
    assert "carol already completed this task at" in banner
    assert 'id="task-status-badge" class="badge status-completed"' in banner
    # carol did it herself: no banner for her (her page is redirected)
    assert "task-banner" not in await received(carol)

    await carol.disconnect()
    assert "Also viewing: " not in await received(alice)
    await alice.disconnect()


async def test_a_closed_tasks_page_takes_no_part_in_presence(world: dict[str, User]) -> None:
    """After completing, carol lands on the task's page again (?completed=1): alice, still on
    the page she opened, must not see carol "also viewing" a task with no work left."""
    event, _, task_id = new_task("group:finance", "Pay the supplier")
    await ingest(event)
    watch = {"watch": "task", "id": task_id, "state": "open::" + str(await _group_id("finance"))}
    alice = await open_socket(world["alice"], watch)
    carol = await open_socket(world["carol"], watch)
    assert "Also viewing: carol" in await received(alice)
    assert "Also viewing: alice" in await received(carol)
    task = await database_sync_to_async(HumanTask.objects.get)(task_id=task_id)
    await database_sync_to_async(actions.complete_task)(
        task=task, user=world["carol"], form_data=None
    )
    assert "carol already completed this task at" in await received(alice)
    await carol.disconnect()
    assert "Also viewing: " not in await received(alice)

    completed = {"watch": "task", "id": task_id, "state": "completed::"}
    again = await open_socket(world["carol"], completed)
    assert await alice.receive_nothing(timeout=0.5)  # no "Also viewing: carol"
    await again.disconnect()
    await alice.disconnect()


async def test_a_page_rendered_before_a_change_is_told_on_reconnect(world: dict[str, User]) -> None:
    event, instance_id, task_id = new_task("alice")
    await ingest(event)
    stale_state = f"open:{world['alice'].pk}:"
    await ingest(f.human_task_completed(instance_id, 3, task_id=task_id, completed_by="bob"))
    alice = await open_socket(world["alice"])
    await alice.send_json_to({"watch": "task", "id": task_id, "state": stale_state})
    assert "bob already completed this task" in await received(alice)
    await alice.disconnect()


async def _group_id(name: str) -> int:
    return (await database_sync_to_async(Group.objects.get)(name=name)).pk


# --- nothing a client sends widens what it hears --------------------------------------------


async def test_a_user_cannot_watch_what_they_may_not_see(world: dict[str, User]) -> None:
    event, instance_id, task_id = new_task("alice")
    await ingest(event)
    bob = await open_socket(world["bob"])
    for junk in (
        {"watch": "task", "id": task_id, "state": ""},
        {"watch": "instance", "id": instance_id},
        {"watch": "instances"},
        {"watch": "group", "id": "finance"},
        {"watch": "user", "id": world["alice"].pk},
        {"watch": "list", "mode": "queue", "query": "group=finance"},
        {"join": f"user.{world['alice'].pk}"},
        ["watch", "task"],
    ):
        await bob.send_json_to(junk)
    await bob.send_to(text_data="not json")
    await bob.send_to(text_data="x" * 100_000)
    await ingest(
        f.human_task_reassigned(
            instance_id, 2, task_id=task_id, to_assignee="group:finance", reassigned_by="admin"
        ),
        f.workflow_paused(instance_id, 3),
    )
    assert await bob.receive_nothing(QUIET)
    # The socket is still alive and still hears its own user's news.
    mine, _, _ = new_task("bob", "For bob")
    await ingest(mine)
    assert "New task: For bob" in await received(bob)
    await bob.disconnect()


async def test_the_instance_list_is_for_admins_and_managers_only(world: dict[str, User]) -> None:
    admin = await open_socket(world["admin"], {"watch": "instances"})
    dave = await open_socket(world["dave"], {"watch": "instances"})
    await ingest(f.workflow_started(f.new_id(), 0))
    assert "hx-swap-oob" in await received(admin)
    assert await dave.receive_nothing(QUIET)
    await admin.disconnect()
    await dave.disconnect()


async def test_instance_page_watchers_hear_their_instance_only(world: dict[str, User]) -> None:
    event, instance_id, _ = new_task("alice")
    other, other_instance, _ = new_task("alice")
    await ingest(event, other)
    admin = await open_socket(world["admin"])
    await admin.send_json_to({"watch": "instance", "id": instance_id, "query": "?kind=workflow"})
    resync = await received(admin)  # what changed since the page was rendered
    assert 'id="instance-status-badge" class="badge status-waiting"' in resync
    # alice holds a task there, but the instance page is the console's: she may not watch it
    alice = await open_socket(world["alice"], {"watch": "instance", "id": instance_id})

    await ingest(f.workflow_paused(other_instance, 3))
    assert await admin.receive_nothing(QUIET)
    await ingest(f.workflow_paused(instance_id, 3, paused_by="erin"))
    html = await received(admin)
    assert 'id="instance-status-badge" class="badge status-paused" hx-swap-oob="true"' in html
    assert 'id="timeline" hx-swap-oob="innerHTML"' in html and "paused" in html
    assert 'id="open-tasks" hx-swap-oob="true"' in html
    assert await alice.receive_nothing(QUIET)
    await admin.disconnect()
    await alice.disconnect()


async def test_a_socket_is_closed_when_its_users_teams_change(world: dict[str, User]) -> None:
    alice = await open_socket(world["alice"], {"watch": "list", "mode": "queue", "query": ""})

    @database_sync_to_async
    def leave_finance() -> None:
        world["alice"].groups.remove(Group.objects.get(name="finance"))

    await leave_finance()
    closed = await alice.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 1012}  # htmx reconnects on 1012
