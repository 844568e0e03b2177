"""The incremental fold: continuing from stored rows gives exactly the full fold.

``refold`` continues an instance's fold from its rows plus ``FoldState`` when all its new
events sort after the last one folded, and folds it from the log otherwise. These tests
check that (1) for generated histories, every split into "already folded" and "new"
gives the same ``Fold`` as folding everything at once, (2) through the database, in-order
ingest takes the incremental path and ends with the same projections as one batch, a
rebuild and the property test's arrival orders, and (3) every reason to fall back to the
full fold (late events, a missing or stale state) does so.
"""

from __future__ import annotations

import io
import itertools
import uuid
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.core.test_properties import histories
from tests.support import events as f
from workflows import fold, store
from workflows.events import TYPE_RANK
from workflows.fold import EventRow, fold_instance, fold_more, resume
from workflows.ingest import ingest_events
from workflows.models import AppendOnlyError, Event, FoldState
from workflows.wire import parse_event

INSTANCE = uuid.UUID(int=1)


def _rows(objs: list[dict[str, Any]]) -> list[EventRow]:
    """Events as the log would hold them: deduplicated by id, first arrival kept."""
    rows: dict[uuid.UUID, EventRow] = {}
    for seq, obj in enumerate(objs, start=1):
        p = parse_event(obj)
        if p.event_id not in rows:
            rows[p.event_id] = EventRow(seq, p.event_id, p.type, p.event.timestamp, p.payload())
    return [r for r in rows.values() if r.payload["instance_id"] == str(INSTANCE)]


def _stored(fold: fold.Fold) -> fold.FoldProgress | None:
    """What refold would rebuild from the rows of ``fold`` and its carry."""
    steps = {(r["step_name"], r["attempt"]): dict(r) for r in fold.steps}
    tasks = {t: dict(v) for t, v in fold.tasks.items()}
    return resume(dict(fold.instance), steps, tasks, fold.carry)


@given(events=histories(), data=st.data())
def test_continuing_from_stored_rows_equals_the_full_fold(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    rows = sorted(_rows(events), key=lambda r: r.sort_key)
    if not rows:
        return
    full = fold_instance(INSTANCE, rows)
    # Cut the sorted history in up to three places and fold it piece by piece, each
    # piece continuing from the rows the previous one would have stored.
    cuts = sorted(data.draw(st.lists(st.integers(1, len(rows)), max_size=3)))
    bounds = [0, *cuts, len(rows)]
    fold = fold_instance(INSTANCE, rows[: bounds[1]])
    for a, b in itertools.pairwise(bounds[1:]):
        if a == b:
            continue
        state = _stored(fold)
        assert state is not None
        piece = rows[a:b]
        fold = fold_more(state, data.draw(st.permutations(piece)))
    assert fold == full


def test_fold_more_refuses_an_event_that_sorts_before_the_folded_ones() -> None:
    iid = str(INSTANCE)
    rows = _rows([f.workflow_started(iid, 5), f.step_started(iid, 6)])
    state = _stored(fold_instance(INSTANCE, rows[1:]))
    assert state is not None
    with pytest.raises(ValueError, match="sorts before"):
        fold_more(state, rows[:1])


def test_resume_refuses_rows_that_do_not_fit_the_carry() -> None:
    iid, tid = str(INSTANCE), f.new_id()
    rows = _rows(
        [f.workflow_started(iid, 0), f.step_started(iid, 1), f.human_task_created(iid, 2, tid)]
    )
    fold = fold_instance(INSTANCE, rows)
    steps = {(r["step_name"], r["attempt"]): r for r in fold.steps}
    assert resume(fold.instance, steps, fold.tasks, fold.carry) is not None
    assert resume(fold.instance, {}, fold.tasks, fold.carry) is None  # a run is missing
    assert resume(fold.instance, steps, {}, fold.carry) is None  # a task is missing
    assert resume(fold.instance, steps, fold.tasks, None) is None
    assert resume(fold.instance, steps, fold.tasks, {**fold.carry, "v": 0}) is None


# --- through the database ---------------------------------------------------------------


def _spy_load_events() -> Any:
    return mock.patch.object(store, "load_events", wraps=store.load_events)


def _reloaded(spy: Any) -> set[uuid.UUID]:
    return {i for call in spy.call_args_list for i in call.args[0]}


def _history(iid: str, tid: str) -> list[dict[str, Any]]:
    return [
        f.workflow_started(iid, 0, initial_data={"amount": 12.5}),
        f.step_started(iid, 1, "validate"),
        f.step_failed(iid, 2, "validate", retry_count=1),
        f.step_started(iid, 3, "validate"),
        f.step_completed(iid, 4, "validate", result={"ok": True}),
        f.step_started(iid, 5, "approve", step_type="HUMAN"),
        f.human_task_created(iid, 5, tid, step_name="approve", form_schema={"type": "object"}),
        f.workflow_paused(iid, 6),
        f.workflow_resumed(iid, 7),
        f.human_task_reassigned(iid, 8, tid, step_name="approve", to_assignee="managers"),
        f.human_task_completed(iid, 9, tid, step_name="approve", completed_by="alice"),
        f.step_completed(iid, 9, "approve"),
        f.workflow_completed(iid, 10, final_step="approve"),
    ]


@pytest.mark.django_db
def test_in_order_ingest_continues_the_fold_and_matches_one_batch() -> None:
    iid, tid = f.new_id(), f.new_id()
    events = _history(iid, tid)
    with transaction.atomic():
        ingest_events(events=events, source="test")
        reference = f.snapshot()
        transaction.set_rollback(True)

    with _spy_load_events() as spy:
        changed = [ingest_events(events=[e], source="test").changes for e in events]
    assert _reloaded(spy) == set(), "in-order events must not reload the history"
    assert f.snapshot() == reference
    assert all(uuid.UUID(iid) in c.instances for c in changed)
    call_command("rebuild_projections", verbosity=0, stdout=io.StringIO())
    assert f.snapshot() == reference


@pytest.mark.django_db
def test_a_late_event_falls_back_to_the_full_fold() -> None:
    iid, tid = f.new_id(), f.new_id()
    events = _history(iid, tid)
    late, rest = events[3], events[:3] + events[4:]
    with transaction.atomic():
        ingest_events(events=events, source="test")
        reference = f.snapshot()
        transaction.set_rollback(True)
    ingest_events(events=rest, source="test")
    with _spy_load_events() as spy:
        ingest_events(events=[late], source="test")
    assert _reloaded(spy) == {uuid.UUID(iid)}
    assert f.snapshot() == reference


@pytest.mark.django_db
def test_a_missing_or_stale_state_falls_back_to_the_full_fold() -> None:
    iid, tid = f.new_id(), f.new_id()
    events = _history(iid, tid)
    with transaction.atomic():
        ingest_events(events=events, source="test")
        reference = f.snapshot()
        transaction.set_rollback(True)

    ingest_events(events=events[:5], source="test")
    FoldState.objects.all().delete()  # e.g. rows written before the state existed
    with _spy_load_events() as spy:
        ingest_events(events=events[5:8], source="test")
    assert _reloaded(spy) == {uuid.UUID(iid)}
    assert FoldState.objects.count() == 1

    # An event in the log that no refold has seen: the stored state is behind the log.
    p = parse_event(events[8])
    Event.objects.create(
        event_id=p.event_id,
        type=p.type,
        instance_id=p.event.instance_id,
        task_id=getattr(p.event, "task_id", None),
        timestamp=p.event.timestamp,
        payload=p.payload(),
        source="test",
    )
    with _spy_load_events() as spy:
        ingest_events(events=events[9:], source="test")
    assert _reloaded(spy) == {uuid.UUID(iid)}
    assert f.snapshot() == reference


@pytest.mark.django_db
def test_refold_writes_the_state_only_when_it_changes() -> None:
    iid = f.new_id()
    ingest_events(events=[f.workflow_started(iid, 0)], source="test")
    state = FoldState.objects.get()
    assert state.state["last"] is not None
    with mock.patch.object(store.fastsql, "upsert", wraps=store.fastsql.upsert) as up:
        changes = store.refold([uuid.UUID(iid)])
    assert not changes.instances and not changes.tasks
    assert all(not call.args[1] for call in up.call_args_list), "nothing to write"


@settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=histories(), data=st.data())
@pytest.mark.django_db
def test_sorted_batches_through_the_database_equal_one_batch(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Histories cut into batches in sort order: each batch continues the stored fold."""
    with transaction.atomic():
        ingest_events(events=events, source="test")
        reference = f.snapshot()
        transaction.set_rollback(True)

    def key(obj: dict[str, Any]) -> tuple[Any, ...]:
        p = parse_event(obj)
        return (p.event.timestamp, TYPE_RANK[p.type], str(p.event_id))

    ordered = sorted(events, key=key)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(ordered)), max_size=4))))
    bounds = [0, *cuts, len(ordered)]
    with transaction.atomic():
        for a, b in itertools.pairwise(bounds):
            if a < b:
                ingest_events(events=ordered[a:b], source="test")
        assert f.snapshot() == reference
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_ingest_result_events_are_the_stored_rows() -> None:
    iid = f.new_id()
    result = ingest_events(events=[f.workflow_started(iid, 0), f.step_started(iid, 1)], source="s")
    stored = list(Event.objects.order_by("seq"))
    assert [e.pk for e in result.events] == [e.pk for e in stored]
    assert [(e.event_id, e.type, e.payload, e.timestamp) for e in result.events] == [
        (e.event_id, e.type, e.payload, e.timestamp) for e in stored
    ]
    with pytest.raises(AppendOnlyError):
        result.events[0].save()  # as with bulk_create's objects: not a new row
