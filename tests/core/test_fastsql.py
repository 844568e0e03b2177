"""workflows.fastsql: raw reads and writes agree with the ORM on whichever database runs the suite.

Run on SQLite by default and on PostgreSQL with DATABASE_URL=postgres://...: the values
written here must read back through the ORM exactly as if the ORM had written them, and
the other way round.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from workflows import fastsql, fold, store
from workflows.models import Event, HumanTask, WorkflowInstance

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
EVENT_COLUMNS = (
    "event_id",
    "event_id_given",
    "type",
    "instance_id",
    "task_id",
    "timestamp",
    "payload",
    "source",
    "actor",
    "received_at",
)


def _event_row(**over: object) -> tuple[object, ...]:
    values = {
        "event_id": uuid.uuid4(),
        "event_id_given": True,
        "type": "StepStarted",
        "instance_id": uuid.uuid4(),
        "task_id": None,
        "timestamp": WHEN,
        "payload": {"step_name": "ünïcode ✓", "n": [1, 2.5, None, {"deep": True}]},
        "source": "token:test",
        "actor": "",
        "received_at": WHEN + timedelta(seconds=1),
        **over,
    }
    return tuple(values[c] for c in EVENT_COLUMNS)


def test_insert_returning_stores_what_the_orm_reads_back() -> None:
    table = fastsql.table_of(Event, *EVENT_COLUMNS)
    rows = [_event_row(), _event_row(task_id=uuid.uuid4(), event_id_given=False)]
    returned: dict[Any, Any] = dict(fastsql.insert_returning(table, rows, ["event_id", "seq"]))
    for row in rows:
        stored = Event.objects.get(event_id=row[0])
        assert stored.seq == returned[row[0]]
        assert tuple(getattr(stored, c) for c in EVENT_COLUMNS) == row
        assert stored.timestamp.utcoffset() == timedelta(0)


def test_select_in_reads_what_the_orm_wrote() -> None:
    written = Event.objects.create(
        event_id=uuid.uuid4(),
        type="WorkflowStarted",
        instance_id=uuid.uuid4(),
        timestamp=WHEN,
        payload={"a": "b", "list": [1, "x"]},
        source="test",
    )
    table = fastsql.table_of(Event, "seq", *EVENT_COLUMNS)
    (row,) = fastsql.select_in(table, "instance_id", [written.instance_id])
    assert row == tuple(getattr(written, c) for c in ("seq", *EVENT_COLUMNS))
    assert isinstance(row[1], uuid.UUID) and isinstance(row[6], datetime)
    assert row[6].tzinfo is not None
    assert fastsql.select_in(table, "instance_id", []) == []
    assert fastsql.select_in(table, "instance_id", [uuid.uuid4()]) == []


def test_select_in_and_count_in_split_long_key_lists() -> None:
    """More keys than SQLite's 999 parameters: several statements, one answer."""
    instance_id = uuid.uuid4()
    rows = [_event_row(instance_id=instance_id) for _ in range(5)]
    fastsql.insert_returning(fastsql.table_of(Event, *EVENT_COLUMNS), rows, ["seq"])
    keys = [uuid.uuid4() for _ in range(2500)] + [instance_id]
    found = fastsql.select_in(fastsql.table_of(Event, "event_id"), "instance_id", keys)
    assert {r[0] for r in found} == {r[0] for r in rows}
    counts = fastsql.count_in(fastsql.table_of(Event, "seq"), "instance_id", keys, "seq")
    first = Event.objects.filter(instance_id=instance_id).order_by("seq").first()
    assert first is not None
    assert counts == {instance_id: (5, first.seq)}


def _instance_row(iid: uuid.UUID, **over: object) -> tuple[object, ...]:
    values = {**fold.instance_defaults(iid), **over}
    return (*(values[k] for k in store._INSTANCE_KEYS), WHEN)


def test_json_none_is_sql_null_as_with_the_orm() -> None:
    table = fastsql.table_of(WorkflowInstance, *store._INSTANCE_KEYS, "updated_at")
    iid = uuid.uuid4()
    fastsql.upsert(table, [_instance_row(iid)], ["instance_id"])
    assert WorkflowInstance.objects.filter(instance_id=iid, initial_data__isnull=True).exists()
    fastsql.upsert(
        table, [_instance_row(iid, initial_data={"x": [1]}, started_at=WHEN)], ["instance_id"]
    )
    row = WorkflowInstance.objects.get(instance_id=iid)
    assert (row.initial_data, row.started_at) == ({"x": [1]}, WHEN)
    assert WorkflowInstance.objects.count() == 1


def test_upsert_inserts_updates_and_keeps_the_listed_columns() -> None:
    alice = User.objects.create_user("alice")
    team = Group.objects.create(name="team")
    iid, tid = uuid.uuid4(), uuid.uuid4()
    WorkflowInstance.objects.create(instance_id=iid)
    table = fastsql.table_of(HumanTask, *store._TASK_ROW, "updated_at", "version")

    def row(user: int | None, group: int | None, **over: object) -> tuple[object, ...]:
        values = {**fold.task_defaults(tid, "approve"), **over}
        folded = (values[k] for k in store._TASK_KEYS)
        return (*folded, iid, user, group, None, WHEN, 0)

    first = row(alice.pk, None, form_schema={"type": "object"}, due_at=WHEN, priority=2)
    fastsql.upsert(table, [first], ["task_id"], keep=["version"])
    task = HumanTask.objects.get(task_id=tid)
    assert task.assignee_user == alice and task.assignee_group is None
    assert (task.form_schema, task.due_at, task.priority, task.version) == (
        {"type": "object"},
        WHEN,
        2,
        0,
    )

    HumanTask.objects.filter(pk=task.pk).update(version=7)  # a person's action
    fastsql.upsert(table, [row(None, team.pk, status="completed")], ["task_id"], keep=["version"])
    again = HumanTask.objects.get(task_id=tid)
    assert again.pk == task.pk
    assert (again.assignee_user, again.assignee_group, again.form_schema, again.due_at) == (
        None,
        team,
        None,
        None,
    )
    assert (again.status, again.version) == ("completed", 7), "version is kept on update"
    assert HumanTask.objects.count() == 1


def test_converters_follow_the_vendor() -> None:
    table = fastsql.table_of(Event, "event_id", "timestamp", "payload")
    eid = uuid.uuid4()
    encoded = table.encoder()((eid, WHEN, {"a": 1}))
    if connection.vendor == "sqlite":
        assert encoded[0] == eid.hex
        assert encoded[1] == "2026-11-25 09:30:15.123456"
        assert encoded[2] == '{"a": 1}'
    else:
        assert encoded[:2] == (eid, WHEN)
    assert table.encoder()((eid, None, None))[1:] == (None, None)
