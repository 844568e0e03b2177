"""A small world for the assignee-page tests: people, teams, roles and tasks made through
the real ingest path (so projections, not hand-written rows, are what the pages read)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone

from tests.support import events as f
from workflows.models import Event, HumanTask, OutboxCommand

PASSWORD = "correct-horse-7"

ROLES = {"Admins": ["manage_instances", "view_history"], "Managers": ["view_history"]}


def ago(**delta: float) -> datetime:
    return timezone.now() - timedelta(**delta)


def from_now(**delta: float) -> datetime:
    return timezone.now() + timedelta(**delta)


def role(name: str) -> Group:
    """A role group with its permissions (a transactional test may have flushed the
    migration's rows, so make sure they exist)."""
    group, _ = Group.objects.get_or_create(name=name)
    perms = Permission.objects.filter(content_type__app_label="workflows", codename__in=ROLES[name])
    assert perms.count() == len(ROLES[name])
    group.permissions.add(*perms)
    return group


@dataclass
class People:
    alice: User  # finance
    bob: User  # finance, legal
    carol: User  # hr
    admin: User  # Admins role
    erin: User  # Managers role


def make_people() -> People:
    teams = {name: Group.objects.get_or_create(name=name)[0] for name in ("finance", "legal", "hr")}

    def person(username: str, full: str, *groups: Group) -> User:
        first, last = full.split(" ")
        user = User.objects.create_user(
            username, password=PASSWORD, first_name=first, last_name=last
        )
        user.groups.add(*groups)
        return user

    return People(
        alice=person("alice", "Alice Martin", teams["finance"]),
        bob=person("bob", "Bob Chen", teams["finance"], teams["legal"]),
        carol=person("carol", "Carol Diaz", teams["hr"]),
        admin=person("admin", "Ada Admin", role("Admins")),
        erin=person("erin", "Erin Walsh", role("Managers")),
    )


def make_task(
    *,
    assignee: str = "alice",
    title: str = "Approve expense report",
    workflow: str = "expense_approval",
    step_name: str = "approve",
    created: datetime | None = None,
    due: datetime | None = None,
    priority: int | None = None,
    description: str | None = None,
    form_schema: dict[str, Any] | None = None,
    initial_data: dict[str, Any] | None = None,
    instance_id: uuid.UUID | None = None,
) -> HumanTask:
    """One open task, ingested as WorkflowStarted + HumanTaskCreated (as an engine sends)."""
    created = created or ago(hours=1)
    task_id = uuid.uuid4()
    events = []
    if instance_id is None:
        instance_id = uuid.uuid4()
        events.append(
            f.workflow_started(
                instance_id,
                created - timedelta(minutes=1),
                workflow_name=workflow,
                initial_data=initial_data,
            )
        )
    extra: dict[str, Any] = {}
    for key, value in (
        ("due_at", due),
        ("priority", priority),
        ("description", description),
        ("form_schema", form_schema),
    ):
        if value is not None:
            extra[key] = value
    events.append(
        f.human_task_created(
            instance_id,
            created,
            task_id=task_id,
            step_name=step_name,
            assignee=assignee,
            title=title,
            **extra,
        )
    )
    f.ingest(events)
    return HumanTask.objects.get(task_id=task_id)


def reload(task: HumanTask) -> HumanTask:
    return HumanTask.objects.select_related("instance").get(pk=task.pk)


def row_ids(html: str) -> list[str]:
    """The task ids of the table rows, in the order a person reads them."""
    return re.findall(r'id="task-row-([0-9a-f-]{36})"', html)


def row_html(html: str, task: HumanTask) -> str:
    """The HTML of one task's row."""
    match = re.search(rf'<tr id="task-row-{task.task_id}".*?</tr>', html, re.S)
    assert match, f"no row for {task.title}"
    return match.group(0)


def text(response: Any) -> str:
    """The response's HTML, with the non-breaking spaces of "3\xa0hours" made plain."""
    return response.content.decode().replace("\xa0", " ")


def counts() -> tuple[int, int]:
    """(events in the log, commands in the outbox)."""
    return Event.objects.count(), OutboxCommand.objects.count()
