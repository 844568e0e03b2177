"""The live socket, ``/ws/live/``: one per page, signed-in people only. This module is the
protocol: what a page may say, and what the socket does with each broadcast.

Which groups a socket is in, and the entitlement checks, are ``live.subscriptions``.
Broadcasts (``live.broadcast``) only say what changed; the consumer has the fragments for its
own user rendered (``live.fragments``) and sends them for htmx's ws extension to swap out of
band. Fragments that do not depend on the user are rendered once per broadcast per process
(``_shared``), not once per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import QueryDict
from django.utils import timezone
from redis.exceptions import RedisError

from inbox import selectors as inbox_selectors
from inbox.forms import TaskFilterForm
from live import broadcast, fragments, sessions
from live.metrics import LIVE_SOCKET_LAYER_ERRORS, WEBSOCKETS_OPEN, observe_fanout
from live.subscriptions import Subscriptions
from pages.zones import COOKIE, rendered_in, zone_for
from savedviews import selectors as view_selectors
from savedviews.models import SavedView
from workflows.models import HumanTask
from workflows.timeline import TIMELINE_KINDS
from workflows_ui import selectors as console_selectors

T = TypeVar("T")
logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
LIST_MODES = ("mine", "queue", "done")
TABLE_TAGS = ("<tr", "<tbody")
# What a page may ask to watch ({"watch": kind, ...}), and the method that checks and joins;
# tests/security/test_socket_matrix.py covers every kind for every role.
WATCHES = {
    "list": "_watch_list",
    "task": "_watch_task",
    "instance": "_watch_instance",
    "instances": "_watch_instances",
    "unrouted": "_watch_unrouted",
}

# Per-process results shared by every socket handling the same broadcast (keys start with
# the broadcast id). Bounded: a broadcast's fan-out finishes long before it is evicted.
_SHARED: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()
_SHARED_MAX = 4096


async def _shared(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Run the sync ``compute`` once per key in this process; later callers await it.

    The computation is a task of its own, awaited through a shield: a socket that closes
    while it runs (its handler cancelled) must not leave the others waiting on a result that
    never comes. A failed computation is forgotten, so the next caller tries again.
    """
    future = _SHARED.get(key)
    if future is None:
        future = asyncio.ensure_future(database_sync_to_async(compute)())
        _SHARED[key] = future

        def forget_failure(done: asyncio.Future[Any]) -> None:
            failed = done.cancelled() or done.exception() is not None
            if failed and _SHARED.get(key) is done:
                del _SHARED[key]

        future.add_done_callback(forget_failure)
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    return cast(T, await asyncio.shield(future))


def _audience_state(audience: list[Any] | tuple[Any, ...] | None) -> str:
    """The task state as the task page writes it in ``data-live-state``."""
    if audience is None:
        return ""
    status, user_id, group_id = audience
    return f"{status}:{'' if user_id is None else user_id}:{'' if group_id is None else group_id}"


class LiveConsumer(AsyncWebsocketConsumer):
    subs: Subscriptions
    ended = False  # the session ended: the socket is closing, nothing more is sent
    session_key: str | None = None
    session_checked_until: datetime | None = None  # no session check needed before then
    session_watch: asyncio.Task[None] | None = None
    counted = False  # in taskinbox_websockets_open (accepted, not yet disconnected)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (403)
            return
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None)
        self.session_id = sessions.fingerprint(self.session_key)
        self.session_checked_until = timezone.now()  # the handshake has just checked it
        self.user = user
        self.user_id = user.pk
        self.username = user.get_username()
        self.subs = Subscriptions(self.channel_layer, self.channel_name, user)
        # The zone this person's pages read dates in (pages.zones): every fragment is rendered
        # in it, and shared renderings are shared only between sockets of the same zone.
        cookies = self.scope.get("cookies") or {}
        self.zone = await database_sync_to_async(zone_for)(user, cookies.get(COOKIE))
        self.list_mode: str | None = None
        self.list_filters: dict[str, Any] = {}
        self.instance_kinds: tuple[str, ...] = TIMELINE_KINDS
        self.viewers: dict[str, str] = {}  # presence: channel name -> username
        self.workflow_key: str | None = None  # the workflow state the task page shows
        self.unrouted_page: int | None = None  # the page of Unrouted shown (admins only)
        self.seen: deque[tuple[Any, ...]] = deque(maxlen=512)
        self.seen_set: set[tuple[Any, ...]] = set()
        # Join the groups before accepting: when the channel layer (Redis) is down the
        # handshake is refused, and the page's reconnects back off (htmx resets its backoff
        # on every socket that opens, so accept-then-close would retry every half second).
        await self.subs.start()
        await self.accept()
        WEBSOCKETS_OPEN.inc()
        self.counted = True
        if self.subs.sees_all and await database_sync_to_async(view_selectors.has_views)(
            user, (SavedView.Page.INSTANCES,)
        ):
            await self.subs.follow_instance_counts()  # for those views' counts
        if self.session_key:
            self.session_watch = asyncio.get_running_loop().create_task(self._watch_session())
        # Re-sync on every (re)connect: the counts may have moved while we were away.
        counts = await self._counts_html(my=True, queues=True, unrouted=self.subs.can_manage)
        views = await self._view_counts_html(tuple(SavedView.Page))
        await self._send_html(counts + views)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # However the socket ends (closed, a handler's exception, the server cancelling it),
        # it leaves the open-sockets gauge.
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError) as error:
            # The channel layer (Redis) failed under this socket: its groups are unreliable.
            # Close with 1013 ("try again later"); the page says "Reconnecting…", reconnects
            # and re-syncs (static/js/live.js). Not raised on: it is not a bug here.
            LIVE_SOCKET_LAYER_ERRORS.inc()
            logger.warning("live socket closed, channel layer failed: %r", error)
            with contextlib.suppress(Exception):  # closed already (it failed in disconnect)
                await send({"type": "websocket.close", "code": 1013})
        finally:
            if self.counted:
                self.counted = False
                WEBSOCKETS_OPEN.dec()

    async def disconnect(self, code: int) -> None:
        watch = self.session_watch
        if watch is not None and watch is not asyncio.current_task():
            watch.cancel()
        subs = getattr(self, "subs", None)
        if subs is None:
            return
        if subs.task_id:
            await self._leave_presence()
        await subs.leave_all()

    # --- the session behind the socket ----------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Before anything is handled (a broadcast to send, a page's request), the socket's
        session must still sign its user in; a socket whose session ended handles nothing."""
        kind = message.get("type")
        if kind not in ("websocket.connect", "websocket.disconnect") and self.session_key:
            if self.ended:
                return
            if kind != "live.session_ended" and not await self._session_valid():
                await self._end_session()
                return
        await super().dispatch(message)

    async def _session_valid(self, *, recheck: bool = False) -> bool:
        now = timezone.now()
        if not recheck and self.session_checked_until and now < self.session_checked_until:
            return True
        until = await database_sync_to_async(sessions.valid_until)(self.session_key, self.user_id)
        if until is None or until <= now:
            return False
        self.session_checked_until = min(until, now + timedelta(seconds=sessions.check_seconds()))
        return True

    async def _watch_session(self) -> None:
        """The periodic check: expiry and deletion from the store are not announced."""
        while not self.ended:
            await asyncio.sleep(sessions.check_seconds())
            try:
                valid = await self._session_valid(recheck=True)
            except Exception:  # a database hiccup must not end the watch
                logger.exception("live session check failed")
                continue
            if not valid:
                await self._end_session()

    async def _end_session(self) -> None:
        if self.ended:
            return
        self.ended = True
        await self.subs.leave_all()  # no broadcast reaches this socket any more
        await self.close(code=sessions.SESSION_ENDED)

    async def live_session_ended(self, event: broadcast.SessionEnded) -> None:
        if event["session"] is None or event["session"] == self.session_id:
            await self._end_session()

    # --- sending ---------------------------------------------------------------------------

    async def _render(self, render: Callable[[], T]) -> T:
        """A fragment of this socket's own, rendered in its user's zone."""
        return await database_sync_to_async(rendered_in(self.zone, render))()

    async def _render_shared(self, key: tuple[Any, ...], render: Callable[[], T]) -> T:
        """A fragment rendered once per broadcast for every socket of the same zone."""
        return await _shared((*key, self.zone), rendered_in(self.zone, render))

    async def _send_html(self, html: str) -> None:
        if self.ended:
            return
        if html := html.strip():
            await self.send(text_data=html)

    async def _send_parts(self, parts: list[str]) -> None:
        """Send fragments; table rows each in a message of their own.

        htmx parses a message inside a <template>, whose parsing mode follows the first tag:
        rows after a <div> would lose their <tr>/<td> tags, and rows together get wrapped
        in one implied <tbody>.
        """
        rest = []
        for part in parts:
            if part.lstrip().startswith(TABLE_TAGS):
                await self._send_html(part)
            else:
                rest.append(part)
        await self._send_html("".join(rest))

    # --- what the page asks for --------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not text_data or len(text_data) > MAX_MESSAGE_CHARS:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("watch")
        handler = WATCHES.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            await getattr(self, handler)(message)

    async def _watch_instances(self, message: dict[str, Any]) -> None:
        await self.subs.watch_instance_list()

    async def _watch_unrouted(self, message: dict[str, Any]) -> None:
        """The Unrouted page: an admin's socket is in the ``unrouted`` group from its
        connect; this says which page of rows to keep live. Nobody else gets rows."""
        if not self.subs.can_manage:
            return
        query = message.get("query")
        page = QueryDict(query.lstrip("?") if isinstance(query, str) else "").get("page", "1")
        self.unrouted_page = int(page) if page.isdigit() and 0 < int(page) < 10**6 else 1

    async def _watch_list(self, message: dict[str, Any]) -> None:
        mode = message.get("mode")
        query = message.get("query")
        self.list_mode = mode if mode in LIST_MODES else None
        query = query.lstrip("?") if isinstance(query, str) else ""
        self.list_filters = TaskFilterForm(QueryDict(query)).filters()

    async def _watch_task(self, message: dict[str, Any]) -> None:
        task_id = _uuid(message.get("id"))
        if task_id is None or str(task_id) == self.subs.task_id:
            return
        previous = self.subs.task_id
        task = await self.subs.watch_task(task_id)  # moves only to a task this user may see
        if task is None:
            return
        if previous:
            await self._leave_presence(previous)
        if task.is_open:
            await self._join_presence(task_id)
        # Re-sync: the page was rendered with some state; tell if it has moved on since.
        current = (task.status, task.assignee_user_id, task.assignee_group_id)
        if message.get("state") != _audience_state(current):
            await self._send_html(await self._banner_html(task))
        # And its workflow's state (paused, resumed, ended), when the page says which it shows.
        shown = message.get("workflow")
        key, html = await self._render(partial(fragments.workflow_state, str(task.instance_id)))
        self.workflow_key = key
        if isinstance(shown, str) and key and shown != key:
            await self._send_html(html)

    async def _watch_instance(self, message: dict[str, Any]) -> None:
        instance_id = _uuid(message.get("id"))
        if instance_id is None or not await self.subs.watch_instance(instance_id):
            return
        query = message.get("query")
        kinds = QueryDict(query.lstrip("?") if isinstance(query, str) else "").getlist("kind")
        self.instance_kinds = tuple(k for k in TIMELINE_KINDS if k in kinds) or TIMELINE_KINDS
        # Re-sync: whatever happened since the page was rendered.
        await self._send_html(await self._instance_html(None, str(instance_id)))

    # --- presence on a task page ---------------------------------------------------------

    async def _join_presence(self, task_id: uuid.UUID) -> None:
        """Tell the others on this open task's page we are here (they answer likewise). A
        closed task's page takes no part: there is no work left to share."""
        await self.channel_layer.group_send(
            broadcast.presence_group(task_id),
            broadcast.PresenceJoin(
                type="presence.join",
                task_id=str(task_id),
                channel=self.channel_name,
                username=self.username,
            ),
        )

    async def _leave_presence(self, task_id: str | None = None) -> None:
        """Tell the others on this task page (the watched one, or ``task_id``) we left."""
        task_id = task_id or self.subs.task_id
        assert task_id is not None
        group = broadcast.presence_group(task_id)
        await self.channel_layer.group_send(
            group,
            broadcast.PresenceLeave(
                type="presence.leave", task_id=task_id, channel=self.channel_name
            ),
        )
        await self.subs.leave(group)
        self.viewers.clear()

    async def presence_join(self, event: broadcast.PresenceJoin) -> None:
        if event["channel"] == self.channel_name or event["task_id"] != self.subs.task_id:
            return
        # Neither show the newcomer nor answer them unless this user still sees the task:
        # the change that took it from them may be on its way, or lost (at most once).
        if not await self.subs.sees_task():
            await self._send_html(await self._lose_task())
            return
        self.viewers[event["channel"]] = event["username"]
        await self.channel_layer.send(
            event["channel"],
            broadcast.PresenceHere(
                type="presence.here",
                task_id=event["task_id"],
                channel=self.channel_name,
                username=self.username,
            ),
        )
        await self._send_presence()

    async def presence_here(self, event: broadcast.PresenceHere) -> None:
        if event["channel"] == self.channel_name or event["task_id"] != self.subs.task_id:
            return
        if not await self.subs.sees_task():
            await self._send_html(await self._lose_task())
            return
        self.viewers[event["channel"]] = event["username"]
        await self._send_presence()

    async def presence_leave(self, event: broadcast.PresenceLeave) -> None:
        if self.viewers.pop(event["channel"], None) is not None:
            await self._send_presence()

    async def _lose_task(self) -> str:
        """The followed task has left this user's sight: leave its presence (the others'
        "Also viewing" drops this person) and its task group; the page is told only that it
        is gone, once, and hears nothing more of it unless it asks to watch it again."""
        assert self.subs.task_id is not None
        task_id = self.subs.task_id
        await self._leave_presence()
        await self.subs.leave_task()
        return fragments.task_gone(task_id)

    async def _send_presence(self) -> None:
        others = sorted({name for name in self.viewers.values() if name != self.username})
        await self._send_html(await database_sync_to_async(fragments.presence)(others))

    # --- task changes --------------------------------------------------------------------

    async def live_tasks(self, event: broadcast.TasksChanged) -> None:
        parts: list[str] = []
        said: list[tuple[str, str]] = []  # lines for the live region, said together at the end
        my_count = queue_counts = unrouted_count = False
        for change in event["tasks"]:
            # A socket in several groups (mine, my team's, the task page) hears one ingest's
            # change more than once; handle it once. The same change in a later ingest (claim,
            # release, claim again) is new.
            key = (event["id"], change["task_id"])
            if key in self.seen_set:
                continue
            if len(self.seen) == self.seen.maxlen:
                self.seen_set.discard(self.seen[0])
            self.seen.append(key)
            self.seen_set.add(key)

            before, after = change["before"], change["after"]
            users = {a[1] for a in (before, after) if a is not None}
            groups = {a[2] for a in (before, after) if a is not None}
            my_count |= self.user_id in users
            queue_counts |= any(g in self.subs.group_ids for g in groups)
            parts.extend(await self._task_parts(event["id"], change, said))
            if self.subs.can_manage and (
                broadcast.is_unrouted(before) or broadcast.is_unrouted(after)
            ):
                unrouted_count = True
                parts.extend(await self._unrouted_parts(event["id"], change))
        if my_count or queue_counts or unrouted_count:
            parts.append(
                await self._counts_html(
                    my=my_count, queues=queue_counts, unrouted=unrouted_count, msg=event["id"]
                )
            )
        if my_count or queue_counts:
            # The saved views of the lists whose counts moved (theirs are subsets of them).
            pages = tuple(
                str(page)
                for page, moved in (
                    (SavedView.Page.MY_TASKS, my_count),
                    (SavedView.Page.TEAM_QUEUES, queue_counts),
                )
                if moved
            )
            parts.append(await self._view_counts_html(pages))
        parts.append(fragments.announcer(said))
        await self._send_parts(parts)
        observe_fanout(event)

    def _on_list(self, mode: str, audience: Any) -> bool:
        return inbox_selectors.belongs_on_list(
            mode, audience, user_id=self.user_id, group_ids=self.subs.group_ids
        )

    async def _task_parts(
        self, msg: str, change: broadcast.TaskChangePayload, said: list[tuple[str, str]]
    ) -> list[str]:
        """The fragments one task's change makes on this socket's page; what the live region
        should say of it is added to ``said``."""
        task_id, before, after = change["task_id"], change["before"], change["after"]
        parts: list[str] = []
        arrived_in = [
            m for m in ("mine", "queue") if self._on_list(m, after) and not self._on_list(m, before)
        ]
        if arrived_in:
            title = await _shared((msg, "title", task_id), lambda: fragments.task_title(task_id))
            if title is not None:
                said.append(fragments.arrival(task_id, title, arrived_in[0]))
        mode = self.list_mode
        if mode in ("mine", "queue"):
            was, now = self._on_list(mode, before), self._on_list(mode, after)
            if was and not now:
                parts.append(fragments.row_removal(task_id))
                if line := await self._removal_line(msg, task_id, mode):
                    said.append(("", line))
            elif now:
                parts.append(await self._row_html(msg, task_id, mode, arrived=not was))
        if task_id == self.subs.task_id and before != after:
            parts.append(await self._task_page_html(msg, task_id))
        return parts

    async def _row_html(self, msg: str, task_id: str, mode: str, *, arrived: bool) -> str:
        """A row swapped in place, or a new row inserted where a fresh load would show it."""
        if not arrived:
            return await self._render_shared(
                (msg, "row", task_id, mode),
                lambda: fragments.task_row(task_id, mode, oob=True),
            )
        audience = self.user_id if mode == "mine" else tuple(sorted(self.subs.group_ids))
        filters = self.list_filters
        page_ids = await _shared(
            (msg, "page", mode, audience, tuple(sorted(filters.items()))),
            lambda: inbox_selectors.list_page_ids(user=self.user, mode=mode, filters=filters),
        )
        if task_id not in page_ids:
            return ""  # filtered out, or on another page than the one shown
        row = await self._render_shared(
            (msg, "row", task_id, mode, "new"),
            lambda: fragments.task_row(task_id, mode, flash=True),
        )
        return fragments.row_insertion(row, page_ids, task_id)

    async def _removal_line(self, msg: str, task_id: str, mode: str) -> str:
        task = await _shared(
            (msg, "task", task_id), lambda: inbox_selectors.task_for_row(task_id=task_id)
        )
        if task is None:
            return ""
        return await database_sync_to_async(fragments.removal)(task, self.user, mode)

    async def _unrouted_parts(self, msg: str, change: broadcast.TaskChangePayload) -> list[str]:
        """The Unrouted page's rows: a task that left goes, one that arrived is inserted
        where a fresh load of the page shows it, one that changed is replaced in place."""
        page = self.unrouted_page
        if page is None:
            return []
        task_id = change["task_id"]
        was, now = broadcast.is_unrouted(change["before"]), broadcast.is_unrouted(change["after"])
        if not now:
            return [fragments.unrouted_removal(task_id)]
        page_ids = await _shared(
            (msg, "unrouted-page", page),
            lambda: console_selectors.unrouted_page_ids(page=page),
        )
        if task_id not in page_ids:
            return [fragments.unrouted_removal(task_id)] if was else []
        row = await _shared(
            (msg, "unrouted-row", task_id, was),
            lambda: fragments.unrouted_row(task_id, flash=not was, oob=was),
        )
        if not row or was:
            return [row]
        return [
            fragments.row_insertion(
                row, page_ids, task_id, prefix="unrouted-row-", body="unrouted-rows"
            )
        ]

    async def _task_page_html(self, msg: str, task_id: str) -> str:
        if not await self.subs.sees_task():
            return await self._lose_task()
        task = await _shared(
            (msg, "task", task_id), lambda: inbox_selectors.task_for_row(task_id=task_id)
        )
        return "" if task is None else await self._banner_html(task)

    async def _banner_html(self, task: HumanTask) -> str:
        return await self._render(partial(fragments.task_banner, task, self.user))

    async def _counts_html(
        self, *, my: bool, queues: bool, unrouted: bool = False, msg: str | None = None
    ) -> str:
        if not queues:
            per_group = None
        elif msg is None:
            per_group = await database_sync_to_async(inbox_selectors.open_per_group)()
        else:
            per_group = await _shared((msg, "group-counts"), inbox_selectors.open_per_group)
        mine = (
            await database_sync_to_async(inbox_selectors.my_open_count)(user_id=self.user_id)
            if my
            else None
        )
        html = fragments.counts(
            my=mine,
            per_group=per_group,
            group_names=self.subs.group_ids,
            each_queue=self.list_mode == "queue",
        )
        if unrouted:
            if msg is None:
                n = await database_sync_to_async(console_selectors.unrouted_count)()
            else:
                n = await _shared((msg, "unrouted-count"), console_selectors.unrouted_count)
            html += fragments.unrouted_count(n)
        return html

    async def _view_counts_html(self, pages: tuple[str, ...]) -> str:
        """The counts of this person's saved views of these pages (per person: their
        views, and My tasks and Team queues are theirs)."""
        return await database_sync_to_async(fragments.view_counts)(self.user, pages)

    # --- rights and instances -----------------------------------------------------------

    async def live_rights(self, event: broadcast.RightsChanged) -> None:
        # The groups joined at connect no longer match the user's rights: start over.
        # The page's socket reconnects on its own and re-syncs its live regions.
        await self.close(code=1012)  # "service restart": htmx's ws extension reconnects

    async def live_instances(self, event: broadcast.InstancesChanged) -> None:
        parts: list[str] = []
        manage = self.subs.can_manage
        for instance_id in event["instance_ids"]:
            if instance_id == self.subs.instance_id:
                parts.append(await self._instance_html(event["id"], instance_id))
            if instance_id == self.subs.task_instance_id:
                parts.append(await self._workflow_html(event["id"], instance_id))
            if self.subs.watches_instance_list:
                parts.append(
                    await self._render_shared(
                        (event["id"], "instance-row", instance_id, manage),
                        partial(fragments.instance_row, instance_id, manage),
                    )
                )
        if self.subs.hears_instances and event["instance_ids"]:
            parts.append(await self._view_counts_html((SavedView.Page.INSTANCES,)))
        await self._send_parts(parts)
        observe_fanout(event)

    async def _workflow_html(self, msg: str, instance_id: str) -> str:
        """The task page's workflow banner, when the workflow's state differs from what the
        page shows (most changes of an instance leave it running or waiting)."""
        render = partial(fragments.workflow_state, instance_id)
        key, html = await self._render_shared((msg, "workflow-state", instance_id), render)
        if not key or key == self.workflow_key:
            return ""
        self.workflow_key = key
        return html

    async def _instance_html(self, msg: str | None, instance_id: str) -> str:
        kinds, user = self.instance_kinds, self.user
        render = partial(fragments.instance_regions, instance_id, kinds, user)
        if msg is None or not self.subs.sees_all:
            return await self._render(render)
        # Everyone who sees all sees the same regions: render them once per broadcast.
        return await self._render_shared((msg, "instance", instance_id, kinds), render)


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
