"""A task for someone who does not exist yet waits in Unrouted, then reaches them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from inbox.models import HumanTask
from tests import factories as f


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
