"""A database made before the models moved into ``workflows`` migrates forward with every
row, every table name and the roles' permissions intact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("inbox", "0005_event_actor"), ("workflows_ui", "0002_roles")]
TABLES = [
    "inbox_event",
    "inbox_ingesttoken",
    "inbox_outboxcommand",
    "inbox_humantask",
    "inbox_foldstate",
    "workflows_ui_workflowinstance",
    "workflows_ui_steprun",
]


def _migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def previous_release(transactional_db: None) -> Iterator[None]:
    """The schema as the previous release left it; forward to the latest afterwards, even
    if the test fails, so later tests find the schema they expect."""
    _migrate([*BEFORE, ("workflows", None)])  # the core app did not exist yet
    try:
        yield
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_a_populated_database_migrates_forward_without_loss(previous_release: None) -> None:
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    when = datetime(2026, 11, 1, 9, tzinfo=UTC)
    iid, tid = uuid.uuid4(), uuid.uuid4()
    instance = old.get_model("workflows_ui", "WorkflowInstance").objects.create(
        instance_id=iid, workflow_name="expense", status="waiting", started_at=when
    )
    old.get_model("workflows_ui", "StepRun").objects.create(
        instance=instance, step_name="approve", status="running", started_at=when
    )
    event = old.get_model("inbox", "Event").objects.create(
        event_id=uuid.uuid4(),
        type="HumanTaskCreated",
        instance_id=iid,
        task_id=tid,
        timestamp=when,
        payload={"title": "Approve"},
        source="token:engine",
    )
    old.get_model("inbox", "HumanTask").objects.create(
        task_id=tid, instance=instance, step_name="approve", title="Approve", assignee="finance"
    )
    old.get_model("inbox", "OutboxCommand").objects.create(
        event=event, kind="HumanTaskCreated", instance_id=iid, payload={}
    )
    old.get_model("inbox", "IngestToken").objects.create(name="engine", token_hash="h" * 64)
    old.get_model("inbox", "FoldState").objects.create(instance=instance, state={"v": 1})
    # The roles' permissions, as the roles migration made them (an earlier test may have
    # flushed its rows; post_migrate then recreated the permissions but not the groups).
    content_types = old.get_model("contenttypes", "ContentType").objects
    content_types.filter(app_label="workflows").delete()  # a previous release had none
    content_type, _ = content_types.get_or_create(
        app_label="workflows_ui", model="workflowinstance"
    )
    group, _ = old.get_model("auth", "Group").objects.get_or_create(name="Admins")
    for codename in ("manage_instances", "view_history"):
        permission, _ = old.get_model("auth", "Permission").objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": codename}
        )
        group.permissions.add(permission)
    perms_before = set(group.permissions.values_list("codename", flat=True))
    assert perms_before == {"manage_instances", "view_history"}

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from django.contrib.auth.models import Group

    from workflows.models import (
        Event,
        FoldState,
        HumanTask,
        IngestToken,
        OutboxCommand,
        StepRun,
        WorkflowInstance,
    )

    assert {m._meta.db_table for m in (Event, FoldState, HumanTask, IngestToken)} | {
        m._meta.db_table for m in (OutboxCommand, StepRun, WorkflowInstance)
    } == set(TABLES)
    assert set(TABLES) <= set(connection.introspection.table_names())
    moved = WorkflowInstance.objects.get(instance_id=iid)
    assert moved.workflow_name == "expense"
    assert StepRun.objects.get(instance=moved).step_name == "approve"
    assert HumanTask.objects.get(task_id=tid).title == "Approve"
    assert Event.objects.get(task_id=tid).payload == {"title": "Approve"}
    assert OutboxCommand.objects.get().event_id == event.pk
    assert IngestToken.objects.get().name == "engine"
    # Tokens older than scopes keep both (migration 0003), so deployments go on working.
    assert IngestToken.objects.get().scopes == ["events:write", "read"]
    assert FoldState.objects.get().state == {"v": 1}
    admins = Group.objects.get(name="Admins")
    role_perms = admins.permissions.filter(codename__in=perms_before)
    assert {p.content_type.app_label for p in role_perms} == {"workflows"}
    assert set(role_perms.values_list("codename", flat=True)) == perms_before
    # and the role's rights in Django's admin (migration 0005)
    assert {"change_ingesttoken", "delete_accessattempt"} <= set(
        admins.permissions.values_list("codename", flat=True)
    )
