"""Which Channels groups one socket is in, and the check that entitles it to each.

A socket joins its user's group and the groups of that user's teams on connect. A page may
then ask to watch more (a task page, an instance page, the instance list); each request is
checked against what this user may see, so no message can put a socket in a group its
user is not entitled to.
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from live import broadcast
from workflows import selectors as core
from workflows.models import HumanTask
from workflows.roles import can_manage, can_read


class Subscriptions:
    user: User
    group_ids: dict[int, str]  # my teams: id -> name
    sees_all: bool  # admins and managers: the console's pages
    can_manage: bool

    def __init__(self, layer: Any, channel_name: str, user: User):
        self.layer, self.channel_name, self.user = layer, channel_name, user
        self.joined: set[str] = set()
        self.task_id: str | None = None
        self.task_instance_id: str | None = None  # the instance of the followed task
        self.instance_id: str | None = None
        self.instance_rows = False  # the page shows the instance list (not only counts)

    async def start(self) -> None:
        """Load the user's rights and join their own groups."""
        self.group_ids, self.sees_all, self.can_manage = await database_sync_to_async(
            self._rights
        )()
        await self.join(broadcast.user_group(self.user.pk))
        for group_id in self.group_ids:
            await self.join(broadcast.django_group(group_id))
        if self.can_manage:  # the Unrouted count in the navigation is an admin's
            await self.join(broadcast.UNROUTED_GROUP)

    def _rights(self) -> tuple[dict[int, str], bool, bool]:
        groups = dict(self.user.groups.values_list("id", "name"))
        return groups, can_read(self.user), can_manage(self.user)

    async def join(self, group: str) -> None:
        await self.layer.group_add(group, self.channel_name)
        self.joined.add(group)

    async def leave(self, group: str) -> None:
        if group in self.joined:
            await self.layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    async def leave_all(self) -> None:
        for group in list(self.joined):
            await self.leave(group)

    async def watch_task(self, task_id: uuid.UUID) -> HumanTask | None:
        """Follow a task page, if this user may see the task; the task as it is now."""
        task = await database_sync_to_async(self._visible_task)(task_id)
        if task is None:
            return None
        await self.leave_task()
        self.task_id = str(task_id)
        self.task_instance_id = str(task.instance_id)
        await self.join(broadcast.task_group(task_id))
        if task.is_open:  # who else is looking matters while there is work to share
            await self.join(broadcast.presence_group(task_id))
        # Its workflow's state (paused, ended) is the task page's too: whoever sees a task
        # sees its instance's workflow events.
        await self.join(broadcast.instance_tasks_group(task.instance_id))
        return task

    def _visible_task(self, task_id: uuid.UUID) -> HumanTask | None:
        return core.visible_tasks(user=self.user).filter(task_id=task_id).first()

    async def sees_task(self) -> bool:
        """Whether this user may still see the task page they follow: its task may have
        left their sight (reassigned to someone else) since they asked to watch it."""
        if self.task_id is None:
            return False
        return await database_sync_to_async(self._sees)(self.task_id)

    def _sees(self, task_id: str) -> bool:
        return core.visible_tasks(user=self.user).filter(task_id=task_id).exists()

    async def leave_task(self) -> None:
        """Stop following the task page: nothing more of that task reaches this socket."""
        if self.task_id:
            await self.leave(broadcast.task_group(self.task_id))
            await self.leave(broadcast.presence_group(self.task_id))
        if self.task_instance_id:
            await self.leave(broadcast.instance_tasks_group(self.task_instance_id))
        self.task_id = self.task_instance_id = None

    async def watch_instance(self, instance_id: uuid.UUID) -> bool:
        """Follow an instance page: the console's, so admins and managers only."""
        if not self.sees_all:
            return False
        if self.instance_id:
            await self.leave(broadcast.instance_group(self.instance_id))
        self.instance_id = str(instance_id)
        await self.join(broadcast.instance_group(instance_id))
        return True

    async def watch_instance_list(self) -> bool:
        if self.sees_all:
            await self.join(broadcast.INSTANCE_LIST_GROUP)
            self.instance_rows = True
        return self.sees_all

    async def follow_instance_counts(self) -> bool:
        """Hear of instance changes for the counts of saved Instances views only (any page):
        the console's readers only, as only they may keep such views."""
        if self.sees_all:
            await self.join(broadcast.INSTANCE_LIST_GROUP)
        return self.sees_all

    @property
    def watches_instance_list(self) -> bool:
        return self.instance_rows and broadcast.INSTANCE_LIST_GROUP in self.joined

    @property
    def hears_instances(self) -> bool:
        return broadcast.INSTANCE_LIST_GROUP in self.joined
