"""Live updates, server side: group names, typed payloads, and the sends after ingest.

A broadcast says *what changed* (task ids with their audience before and after, instance
ids), never HTML: each consumer renders the fragments for its own user. Groups:

- ``user.<pk>``: every socket of that person;
- ``group.<pk>``: every socket of the members of that Django group (its team queue);
- ``task.<task_id>``: sockets showing that task's page (presence uses ``presence.<task_id>``);
- ``instance.<instance_id>``: sockets showing that instance's page;
- ``instance-tasks.<instance_id>``: sockets showing a task page of that instance (the
  workflow's state: paused, resumed, ended);
- ``instances``: sockets showing the console's instance list;
- ``unrouted``: every socket of an admin (the Unrouted count in the console's navigation,
  and the Unrouted page's rows): told of every task that enters or leaves Unrouted.

The channel layer delivers at most once; pages re-sync on every (re)connect (static/js/live.js).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import m2m_changed

from live.metrics import LIVE_BROADCAST_FAILURES
from workflows.store import Changes, TaskChange

logger = logging.getLogger(__name__)

INSTANCE_LIST_GROUP = "instances"
UNROUTED_GROUP = "unrouted"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def django_group(group_id: int) -> str:
    return f"group.{group_id}"


def task_group(task_id: uuid.UUID | str) -> str:
    return f"task.{task_id}"


def presence_group(task_id: uuid.UUID | str) -> str:
    return f"presence.{task_id}"


def instance_group(instance_id: uuid.UUID | str) -> str:
    return f"instance.{instance_id}"


def instance_tasks_group(instance_id: uuid.UUID | str) -> str:
    """Task pages of the instance's tasks: told when the instance changes (its state)."""
    return f"instance-tasks.{instance_id}"


# --- payloads ------------------------------------------------------------------------------

Audience = tuple[str, int | None, int | None]


class TaskChangePayload(TypedDict):
    task_id: str
    instance_id: str
    # (status, assignee user id, assignee group id); None before for a new task.
    before: list[Any] | None
    after: list[Any]


class TasksChanged(TypedDict):
    type: Literal["live.tasks"]
    id: str  # one per broadcast: consumers in a process render a shared fragment once
    tasks: list[TaskChangePayload]
    # When it left the sending process (time.time()), stamped by send_many; for
    # taskinbox_live_fanout_seconds (live.metrics). Absent from older senders' messages.
    sent_at: NotRequired[float]


class InstancesChanged(TypedDict):
    type: Literal["live.instances"]
    id: str
    instance_ids: list[str]
    sent_at: NotRequired[float]  # as TasksChanged's


class PresenceJoin(TypedDict):
    type: Literal["presence.join"]
    task_id: str
    channel: str
    username: str


class PresenceHere(TypedDict):
    type: Literal["presence.here"]
    task_id: str
    channel: str
    username: str


class PresenceLeave(TypedDict):
    type: Literal["presence.leave"]
    task_id: str
    channel: str


class RightsChanged(TypedDict):
    """The user's teams or permissions changed: their sockets must reconnect afresh."""

    type: Literal["live.rights"]


class SessionEnded(TypedDict):
    """A session of the user ended (sign-out: that session; a password change: all of them):
    the matching sockets close with ``live.sessions.SESSION_ENDED`` and stay closed."""

    type: Literal["live.session_ended"]
    session: str | None  # live.sessions.fingerprint of the session key; None: every session


Payload = (
    TasksChanged
    | InstancesChanged
    | PresenceJoin
    | PresenceHere
    | PresenceLeave
    | RightsChanged
    | SessionEnded
)

_ids = itertools.count()
_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def broadcast_id() -> str:
    return f"{_prefix}-{next(_ids)}"


def send_many(messages: list[tuple[str, Payload]]) -> None:
    """The one way broadcasts leave this process: all of them from one ``async_to_sync``.

    Each ``async_to_sync`` call is a thread hop (in uvicorn, onto the server's event loop,
    where the in-memory layer's consumers live), so a batch's messages share one. A lost
    message is re-synced later: a failure is logged, never raised (the commit stands).
    Each message is stamped with ``sent_at`` (wall-clock seconds) for the fan-out delay
    (``live.metrics``); receivers ignore keys they do not know.

    From a thread of the WSGI handler's pool (config/asgi.py serves HTTP through a2wsgi), the
    sends go to the server's event loop (``use_server_loop``), and we wait for them there.

    Sync code running on a thread whose event loop is running (a Playwright sync test, a
    notebook) cannot block on ``async_to_sync`` there; the sends go to a worker thread with
    an event loop of its own, and we wait for them. Channels' advice for this case is "do not
    call sync code from the async thread"; the worker thread is how to honour it from here.
    """
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    unsent = len(messages)

    async def send_all() -> None:
        nonlocal unsent
        sent_at = time.time()
        for group, payload in messages:
            try:
                await layer.group_send(group, {**payload, "sent_at": sent_at})
            except Exception:  # one group's failure must not starve the others
                LIVE_BROADCAST_FAILURES.inc()
                logger.exception("live broadcast to %s failed", group)
            unsent -= 1

    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    server = _server_loop
    try:
        if server is not None and running is None and server.is_running():
            # A request's thread under a2wsgi (config/asgi.py): not one of asgiref's, so
            # async_to_sync would not find the server's loop and would send from a new loop
            # of its own, where the in-memory layer's queues (bound to the server's loop,
            # not thread-safe) would not wake their consumers.
            sending = asyncio.run_coroutine_threadsafe(send_all(), server)
            try:
                sending.result(timeout=SEND_TIMEOUT)
            except TimeoutError:
                sending.cancel()  # what is counted as failed below must not go out late
                raise
        elif running is not None:
            _worker().submit(async_to_sync(send_all)).result(timeout=SEND_TIMEOUT)
        else:
            async_to_sync(send_all)()
    except Exception:
        LIVE_BROADCAST_FAILURES.inc(unsent)
        logger.exception("live broadcast of %d messages failed", len(messages))


_server_loop: asyncio.AbstractEventLoop | None = None


def use_server_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The ASGI server's event loop, where the websockets' consumers (and the in-memory
    layer's queues) live: broadcasts from threads without an event loop of their own (the
    WSGI handler's, config/asgi.py) are sent there. Set by config/asgi.py on each call."""
    global _server_loop
    _server_loop = loop


SEND_TIMEOUT = 30.0  # seconds; a stuck layer must not hold a request (or a test) forever
_executor: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-broadcast")
    return _executor


# --- from changes to groups ----------------------------------------------------------------


def is_unrouted(audience: Any) -> bool:
    """An open task whose assignee names no person and no team (``(status, user, group)``)."""
    return (
        audience is not None
        and audience[0] == "open"
        and audience[1] is None
        and audience[2] is None
    )


def task_audiences(change: TaskChange) -> set[str]:
    """Who must hear of a task change: its old and new holders, and its page's viewers."""
    groups = {task_group(change.task_id)}
    for audience in (change.before, change.after):
        if audience is None:
            continue
        if is_unrouted(audience):
            groups.add(UNROUTED_GROUP)
        _, user_id, group_id = audience
        if user_id is not None:
            groups.add(user_group(user_id))
        if group_id is not None:
            groups.add(django_group(group_id))
    return groups


def _task_payload(change: TaskChange) -> TaskChangePayload:
    return {
        "task_id": str(change.task_id),
        "instance_id": str(change.instance_id),
        "before": list(change.before) if change.before is not None else None,
        "after": list(change.after),
    }


def plan(changes: Changes) -> list[tuple[str, Payload]]:
    """One message per group, carrying every change that group should hear of.

    All messages of one ingest share an id: a socket in several of the groups handles each
    change once, and renders a shared fragment once.
    """
    bid = broadcast_id()
    by_group: dict[str, list[TaskChangePayload]] = defaultdict(list)
    for change in changes.tasks:
        payload = _task_payload(change)
        for group in sorted(task_audiences(change)):
            by_group[group].append(payload)
    messages: list[tuple[str, Payload]] = []
    for group, tasks in by_group.items():
        messages.append((group, TasksChanged(type="live.tasks", id=bid, tasks=tasks)))
    instance_ids = sorted(str(i) for i in changes.instances)
    for iid in instance_ids:
        for group in (instance_group(iid), instance_tasks_group(iid)):
            messages.append(
                (group, InstancesChanged(type="live.instances", id=bid, instance_ids=[iid]))
            )
    if instance_ids:
        messages.append(
            (
                INSTANCE_LIST_GROUP,
                InstancesChanged(type="live.instances", id=bid, instance_ids=instance_ids),
            )
        )
    return messages


def send_changes(changes: Changes) -> None:
    send_many(plan(changes))


def on_events_ingested(sender: Any, changes: Changes, **kwargs: Any) -> None:
    # The signal is sent from transaction.on_commit: what we announce is already visible.
    send_changes(changes)


def on_rights_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    """A socket joined its groups with the rights its user had then; when the user's
    teams or permissions change, close their sockets so they reconnect with the new ones."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from django.contrib.auth.models import Group

    if isinstance(instance, Group):
        user_ids = list(instance.user_set.values_list("pk", flat=True))
    else:
        user_ids = [instance.pk]
    messages: list[tuple[str, Payload]] = [
        (user_group(pk), RightsChanged(type="live.rights")) for pk in user_ids
    ]
    transaction.on_commit(lambda: send_many(messages))


def _end_sessions(user_id: Any, session: str | None) -> None:
    message: list[tuple[str, Payload]] = [
        (user_group(user_id), SessionEnded(type="live.session_ended", session=session))
    ]
    transaction.on_commit(lambda: send_many(message))


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Sign-out closes the sockets of that session only; the user's other browsers stay."""
    from live.sessions import fingerprint

    session = getattr(request, "session", None)
    if user is not None and user.pk is not None and session is not None:
        _end_sessions(user.pk, fingerprint(session.session_key))


def on_user_pre_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """Note whether this save changes the stored password hash (``set_password`` and save,
    the admin's password forms, ``changepassword``): every session's auth hash then fails."""
    update_fields = kwargs.get("update_fields")
    if raw or instance.pk is None:
        return
    if update_fields is not None and "password" not in update_fields:
        return
    stored = (
        sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    )
    if stored is not None and stored != instance.password:
        instance._live_password_changed = True


def on_user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.__dict__.pop("_live_password_changed", False):
        _end_sessions(instance.pk, None)


def connect() -> None:
    from django.contrib.auth import user_logged_out
    from django.contrib.auth.models import Group, User
    from django.db.models.signals import post_save, pre_save

    from workflows.ingest import events_ingested

    events_ingested.connect(on_events_ingested, dispatch_uid="live.broadcast")
    user_logged_out.connect(on_logged_out, dispatch_uid="live.logged_out")
    pre_save.connect(on_user_pre_save, sender=User, dispatch_uid="live.password_pre_save")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="live.password_saved")
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(
            on_rights_changed, sender=through, dispatch_uid=f"live.rights.{through}"
        )
