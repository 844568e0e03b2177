"""The live socket, ``/ws/live/``: one per page, signed-in people only.

On connect the socket joins its user's group and the groups of that user's teams. The page
may then ask to *watch* more (a task page, an instance page, the instance list, or tell
which task list it shows); each request is checked against what this user may see, so no
message can put a socket in a group its user is not entitled to.

Broadcasts (inbox.broadcast) only say what changed. The consumer renders the fragments for
its own user with the partials the pages use, and sends them for htmx's ws extension to swap
out of band. Fragments that do not depend on the user are rendered once per broadcast per
process (``_shared``), not once per socket.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.text import slugify

from inbox import selectors
from inbox.forms import TaskFilterForm
from live import broadcast
from workflows import actions
from workflows import selectors as core
from workflows.models import HumanTask
from workflows.roles import can_manage, can_read
from workflows.timeline import TIMELINE_KINDS
from workflows_ui import selectors as console

T = TypeVar("T")

MAX_MESSAGE_CHARS = 4096
LIST_MODES = ("mine", "queue", "done")
TABLE_TAGS = ("<tr", "<tbody")

# Per-process results shared by every socket handling the same broadcast (keys start with
# the broadcast id). Bounded: a broadcast's fan-out finishes long before it is evicted.
_SHARED: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()
_SHARED_MAX = 4096


async def _shared(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Run the sync ``compute`` once per key in this process; later callers await it."""
    future = _SHARED.get(key)
    if future is None:
        future = asyncio.get_running_loop().create_future()
        _SHARED[key] = future
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
        try:
            future.set_result(await database_sync_to_async(compute)())
        except Exception as exc:
            future.set_exception(exc)
            _SHARED.pop(key, None)
            raise
    return await future


def _audience_state(audience: list[Any] | tuple[Any, ...] | None) -> str:
    """The task state as the task page writes it in ``data-live-state``."""
    if audience is None:
        return ""
    status, user_id, group_id = audience
    return f"{status}:{'' if user_id is None else user_id}:{'' if group_id is None else group_id}"


class LiveConsumer(AsyncWebsocketConsumer):
    user_id: int
    username: str
    group_ids: dict[int, str]  # my teams: id -> name
    sees_all: bool
    can_manage: bool

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused (403)
            return
        self.user = user
        self.user_id = user.pk
        self.username = user.get_username()
        self.group_ids, self.sees_all, self.can_manage = await database_sync_to_async(
            self._load_user
        )()
        self.joined: set[str] = set()
        self.list_mode: str | None = None
        self.list_filters: dict[str, Any] = {}
        self.task_id: str | None = None
        self.instance_id: str | None = None
        self.instance_kinds: tuple[str, ...] = TIMELINE_KINDS
        self.viewers: dict[str, str] = {}  # presence: channel name -> username
        self.seen: deque[tuple[Any, ...]] = deque(maxlen=512)
        self.seen_set: set[tuple[Any, ...]] = set()
        await self.accept()
        await self._join(broadcast.user_group(self.user_id))
        for group_id in self.group_ids:
            await self._join(broadcast.django_group(group_id))
        # Re-sync on every (re)connect: the counts may have moved while we were away.
        await self._send_html(await self._counts_html(my=True, queues=True))

    def _load_user(self) -> tuple[dict[int, str], bool, bool]:
        groups = dict(self.user.groups.values_list("id", "name"))
        return groups, can_read(self.user), can_manage(self.user)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "task_id", None):
            await self._leave_presence()
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def _send_html(self, html: str) -> None:
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
        watch = message.get("watch")
        if watch == "list":
            await self._watch_list(message)
        elif watch == "task":
            await self._watch_task(message)
        elif watch == "instance":
            await self._watch_instance(message)
        elif watch == "instances":
            await self._watch_instances()

    async def _watch_list(self, message: dict[str, Any]) -> None:
        mode = message.get("mode")
        query = message.get("query")
        self.list_mode = mode if mode in LIST_MODES else None
        query = query.lstrip("?") if isinstance(query, str) else ""
        self.list_filters = TaskFilterForm(QueryDict(query)).filters()

    async def _watch_task(self, message: dict[str, Any]) -> None:
        task_id = _uuid(message.get("id"))
        if task_id is None or str(task_id) == self.task_id:
            return
        task = await database_sync_to_async(self._visible_task)(task_id)
        if task is None:
            return
        if self.task_id:
            await self._leave_presence()
            await self._leave(broadcast.task_group(self.task_id))
        self.task_id = str(task_id)
        await self._join(broadcast.task_group(task_id))
        await self._join(broadcast.presence_group(task_id))
        await self.channel_layer.group_send(
            broadcast.presence_group(task_id),
            broadcast.PresenceJoin(
                type="presence.join",
                task_id=str(task_id),
                channel=self.channel_name,
                username=self.username,
            ),
        )
        # Re-sync: the page was rendered with some state; tell if it has moved on since.
        current = (task.status, task.assignee_user_id, task.assignee_group_id)
        if message.get("state") != _audience_state(current):
            await self._send_html(await database_sync_to_async(self._banner_html)(task))

    def _visible_task(self, task_id: uuid.UUID) -> HumanTask | None:
        return core.visible_tasks(user=self.user).filter(task_id=task_id).first()

    async def _watch_instance(self, message: dict[str, Any]) -> None:
        # The instance page is the console's: admins and managers only, as for the page.
        instance_id = _uuid(message.get("id"))
        if instance_id is None or not self.sees_all:
            return
        query = message.get("query")
        kinds = QueryDict(query.lstrip("?") if isinstance(query, str) else "").getlist("kind")
        self.instance_kinds = tuple(k for k in TIMELINE_KINDS if k in kinds) or TIMELINE_KINDS
        if self.instance_id:
            await self._leave(broadcast.instance_group(self.instance_id))
        self.instance_id = str(instance_id)
        await self._join(broadcast.instance_group(instance_id))
        # Re-sync: whatever happened since the page was rendered.
        await self._send_html(await self._instance_html(None, self.instance_id))

    async def _watch_instances(self) -> None:
        if self.sees_all:
            await self._join(broadcast.INSTANCE_LIST_GROUP)

    # --- presence on a task page ---------------------------------------------------------

    async def _leave_presence(self) -> None:
        assert self.task_id is not None
        group = broadcast.presence_group(self.task_id)
        await self.channel_layer.group_send(
            group,
            broadcast.PresenceLeave(
                type="presence.leave", task_id=self.task_id, channel=self.channel_name
            ),
        )
        await self._leave(group)
        self.viewers.clear()

    async def presence_join(self, event: broadcast.PresenceJoin) -> None:
        if event["channel"] == self.channel_name or event["task_id"] != self.task_id:
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
        if event["task_id"] == self.task_id:
            self.viewers[event["channel"]] = event["username"]
            await self._send_presence()

    async def presence_leave(self, event: broadcast.PresenceLeave) -> None:
        if self.viewers.pop(event["channel"], None) is not None:
            await self._send_presence()

    async def _send_presence(self) -> None:
        others = sorted({name for name in self.viewers.values() if name != self.username})
        html = render_to_string(
            "inbox/task_detail.html#task-presence", {"viewers": others, "oob": True}
        )
        await self._send_html(html)

    # --- task changes --------------------------------------------------------------------

    async def live_tasks(self, event: broadcast.TasksChanged) -> None:
        parts: list[str] = []
        my_count = queue_counts = False
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
            queue_counts |= any(g in self.group_ids for g in groups)
            parts.extend(await self._task_parts(event["id"], change))
        if my_count or queue_counts:
            parts.append(await self._counts_html(my=my_count, queues=queue_counts, msg=event["id"]))
        await self._send_parts(parts)

    def _holds(self, mode: str, audience: list[Any] | None) -> bool:
        """Whether a task in this state belongs on my ``mode`` list."""
        if audience is None or audience[0] != HumanTask.Status.OPEN:
            return False
        if mode == "mine":
            return bool(audience[1] == self.user_id)
        if mode == "queue":
            return audience[2] in self.group_ids
        return False

    async def _task_parts(self, msg: str, change: broadcast.TaskChangePayload) -> list[str]:
        task_id, before, after = change["task_id"], change["before"], change["after"]
        parts: list[str] = []
        arrived_in = [
            m for m in ("mine", "queue") if self._holds(m, after) and not self._holds(m, before)
        ]
        if arrived_in:
            parts.append(await self._announce_html(msg, task_id, arrived_in[0]))
        mode = self.list_mode
        if mode in ("mine", "queue"):
            was, now = self._holds(mode, before), self._holds(mode, after)
            if was and not now:
                parts.append(
                    format_html('<tr id="task-row-{}" hx-swap-oob="delete"></tr>', task_id)
                )
            elif now:
                parts.append(await self._row_html(msg, task_id, mode, arrived=not was))
        if task_id == self.task_id and before != after:
            parts.append(await self._task_page_html(msg, task_id))
        return parts

    async def _row_html(self, msg: str, task_id: str, mode: str, *, arrived: bool) -> str:
        """A row swapped in place, or a new row inserted where a fresh load would show it."""
        if not arrived:
            return await _shared(
                (msg, "row", task_id, mode),
                lambda: _render_row(task_id, mode, oob=True),
            )
        audience = self.user_id if mode == "mine" else tuple(sorted(self.group_ids))
        filters_key = tuple(sorted(self.list_filters.items()))
        page_ids = await _shared(
            (msg, "page", mode, audience, filters_key),
            lambda: self._page_ids(mode, self.list_filters),
        )
        if task_id not in page_ids:
            return ""  # filtered out, or on another page than the one shown
        index = page_ids.index(task_id)
        target = (
            f"beforebegin:#task-row-{page_ids[index + 1]}"
            if index + 1 < len(page_ids)
            else "beforeend:#task-rows"
        )
        row = await _shared(
            (msg, "row", task_id, mode, "new"), lambda: _render_row(task_id, mode, flash=True)
        )
        return f'<tbody hx-swap-oob="{target}" data-live-miss="resync">{row}</tbody>'

    def _page_ids(self, mode: str, filters: dict[str, Any]) -> list[str]:
        select = selectors.my_tasks if mode == "mine" else selectors.team_queue
        qs = select(user=self.user, filters=filters).values_list("task_id", flat=True)
        page = Paginator(qs, selectors.PAGE_SIZE).get_page(filters.get("page"))
        return [str(i) for i in page.object_list]

    async def _announce_html(self, msg: str, task_id: str, mode: str) -> str:
        title = await _shared((msg, "title", task_id), lambda: _task_title(task_id))
        if title is None:
            return ""
        text = f"New task: {title}" if mode == "mine" else f"New in your team queue: {title}"
        return format_html(
            '<div id="live-announcer" hx-swap-oob="innerHTML">'
            '<span data-notify="{}">{}</span></div>',
            task_id,
            text,
        )

    async def _task_page_html(self, msg: str, task_id: str) -> str:
        task = await _shared((msg, "task", task_id), lambda: _load_task(task_id))
        if task is None:
            return ""
        return await database_sync_to_async(self._banner_html)(task)

    def _banner_html(self, task: HumanTask) -> str:
        """Tell the viewer that someone else changed the task under them; forms go off."""
        actor = (
            task.completed_by
            if task.status == HumanTask.Status.COMPLETED
            else task.last_reassigned_by
            if task.status == HumanTask.Status.OPEN
            else ""
        )
        if actor and actor == self.username:
            return ""  # my own action: my page is being redirected already
        context = {
            "task": task,
            "live_banner": actions.describe_task_state(task),
            "stale": not core.may_act(self.user, task),
            "oob": True,
        }
        return render_to_string("inbox/task_detail.html#task-banner", context) + render_to_string(
            "inbox/task_detail.html#task-status-badge", context
        )

    async def _counts_html(self, *, my: bool, queues: bool, msg: str | None = None) -> str:
        if msg is None:
            per_group = await database_sync_to_async(_open_per_group)()
        else:
            per_group = await _shared((msg, "group-counts"), _open_per_group)
        parts: list[str] = []
        if my:
            mine = await database_sync_to_async(
                lambda: HumanTask.objects.open().filter(assignee_user_id=self.user_id).count()
            )()
            parts.append(render_to_string("_nav.html#count-my", {"n": mine, "oob": True}))
        if queues:
            total = sum(per_group.get(g, 0) for g in self.group_ids)
            parts.append(render_to_string("_nav.html#count-queues", {"n": total, "oob": True}))
            if self.list_mode == "queue":
                parts.extend(
                    format_html(
                        '<span class="count" id="count-queue-{}" hx-swap-oob="true">{}</span>',
                        slugify(name),
                        per_group.get(g, 0),
                    )
                    for g, name in self.group_ids.items()
                )
        return "".join(parts)

    # --- instances -----------------------------------------------------------------------

    async def live_rights(self, event: broadcast.RightsChanged) -> None:
        # The groups joined at connect no longer match the user's rights: start over.
        # The page's socket reconnects on its own and re-syncs its live regions.
        await self.close(code=1012)  # "service restart": htmx's ws extension reconnects

    async def live_instances(self, event: broadcast.InstancesChanged) -> None:
        parts: list[str] = []
        for instance_id in event["instance_ids"]:
            if instance_id == self.instance_id:
                parts.append(await self._instance_html(event["id"], instance_id))
            if broadcast.INSTANCE_LIST_GROUP in self.joined:
                parts.append(
                    await _shared(
                        (event["id"], "instance-row", instance_id, self.can_manage),
                        partial(_render_instance_row, instance_id, self.can_manage),
                    )
                )
        await self._send_parts(parts)

    async def _instance_html(self, msg: str | None, instance_id: str) -> str:
        """The instance page's live regions: status, open tasks, timeline."""
        kinds = self.instance_kinds
        if msg is None:
            return await database_sync_to_async(_render_instance)(instance_id, kinds)
        return await _shared(
            (msg, "instance", instance_id, kinds), lambda: _render_instance(instance_id, kinds)
        )


def _uuid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _load_task(task_id: str) -> HumanTask | None:
    return (
        HumanTask.objects.select_related("instance", "assignee_user", "assignee_group")
        .filter(task_id=task_id)
        .first()
    )


def _task_title(task_id: str) -> str | None:
    task = HumanTask.objects.filter(task_id=task_id).values("title", "step_name").first()
    return None if task is None else (task["title"] or task["step_name"])


def _render_row(task_id: str, mode: str, *, flash: bool = False, oob: bool = False) -> str:
    task = _load_task(task_id)
    if task is None:
        return ""
    return render_to_string(
        "inbox/task_list.html#task-row", {"task": task, "mode": mode, "flash": flash, "oob": oob}
    )


def _open_per_group() -> dict[int, int]:
    rows = (
        HumanTask.objects.open()
        .exclude(assignee_group=None)
        .values("assignee_group_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["assignee_group_id"]: r["n"] for r in rows}


def _render_instance_row(instance_id: str, manage: bool) -> str:
    instance = console.instance_get(instance_id=uuid.UUID(instance_id))
    if instance is None:
        return ""
    return render_to_string(
        "workflows_ui/instances.html#instance-row",
        {"i": instance, "can_manage": manage, "oob": True},
    )


def _render_instance(instance_id: str, kinds: tuple[str, ...]) -> str:
    iid = uuid.UUID(instance_id)
    instance = console.instance_get(instance_id=iid)
    if instance is None:
        return ""
    template = "workflows_ui/instance.html"
    context = {
        "instance": instance,
        "open_tasks": list(console.instance_open_tasks(instance_id=iid)),
        "timeline": core.instance_timeline(instance_id=iid, kinds=list(kinds)),  # type: ignore[arg-type]
        "now": console.now(),
        "oob": True,
    }
    timeline = render_to_string(f"{template}#timeline", context)
    return (
        render_to_string(f"{template}#instance-status-badge", context)
        + render_to_string(f"{template}#open-tasks", context)
        + f'<div id="timeline" hx-swap-oob="innerHTML">{timeline}</div>'
    )
