"""A task for someone who does not exist yet waits in Unrouted, then reaches them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from tests.support import events as f
from workflows.models import HumanTask


@pytest.mark.django_db
def test_task_for_unknown_user_is_routed_when_the_user_is_created() -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, assignee="zoe")])
    task = HumanTask.objects.get()
    assert task.assignee_user is None and task.assignee_group is None

    zoe = User.objects.create_user("zoe")

    task.refresh_from_db()
    assert task.assignee_user == zoe


@pytest.mark.django_db
def test_task_for_unknown_group_is_routed_when_the_group_is_created() -> None:
    iid = f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, assignee="group:audit")])
    group = Group.objects.create(name="audit")
    assert HumanTask.objects.get().assignee_group == group


@pytest.mark.django_db(transaction=True)
def test_routing_a_waiting_task_is_announced_to_the_live_layer() -> None:
    from workflows.ingest import events_ingested

    iid = f.new_id()
    f.ingest([f.workflow_started(iid, 0), f.human_task_created(iid, 1, assignee="yann")])
    heard = []

    def listener(sender, changes, **kwargs) -> None:
        heard.append(changes)

    events_ingested.connect(listener)
    try:
        yann = User.objects.create_user("yann")
    finally:
        events_ingested.disconnect(listener)

    (changes,) = heard
    (change,) = changes.tasks
    assert change.before[1] is None and change.after[1] == yann.pk
