"""Search by business data (``workflows.search``): the index the fold writes, and ``?q=`` on
the instance list, History, the audit trail, My tasks, Team queues and Done.

Everything is made through the real ingest path, so what is searched is what the fold
wrote. Runs on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm) alike.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from tests.support import events as f
from tests.support.inbox_world import People, make_people, make_task, text
from workflows import search
from workflows.models import HumanTask, InstanceSearch, TaskSearch, WorkflowInstance

pytestmark = pytest.mark.django_db

KEY = "EXP-2026-4916"
INITIAL = {"expense": {"reference": KEY, "amount": 1234.5, "lines": [{"what": "Taxi"}]}}


@pytest.fixture
def people() -> People:
    return make_people()


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def instance_rows(html: str) -> list[str]:
    return re.findall(r'id="instance-row-([0-9a-f-]{36})"', html)


def task_rows(html: str) -> list[str]:
    return re.findall(r'id="task-row-([0-9a-f-]{36})"', html)


def history_tasks(html: str) -> list[str]:
    return re.findall(r'href="/tasks/([0-9a-f-]{36})/"', html)


def listed(client: Client, url: str, **params: str) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200, (url, params)
    html = text(response)
    if url.startswith("/workflows/history"):
        return history_tasks(html)
    if url.startswith("/workflows/"):
        return instance_rows(html)
    return task_rows(html)


@pytest.fixture
def world(people: People) -> dict[str, Any]:
    """An expense whose initial data holds KEY (alice's open task, bob's completed one), and
    other work that must not match."""
    expense = make_task(
        title="Approve expense",
        description="Check the receipts",
        workflow="expense_approval",
        initial_data=INITIAL,
    )
    iid = expense.instance_id
    done_id = uuid.uuid4()
    f.ingest(
        [
            f.human_task_created(
                iid, f.at(5), task_id=done_id, step_name="audit", assignee="bob", title="Audit"
            ),
            f.human_task_completed(iid, f.at(6), task_id=done_id, step_name="audit",
                                   completed_by="bob"),
        ]
    )  # fmt: skip
    other = make_task(
        title="Review contract",
        description="The NDA with Northwind Traders",
        workflow="document_review",
        initial_data={"reference": "EXP-2025-0001", "customer": "Northwind"},
    )
    bobs = make_task(
        assignee="bob",
        title="Sign purchase order",
        workflow="purchase_order",
        initial_data={"po": "PO-77-4916"},
    )
    return {
        "expense": expense,
        "audit": HumanTask.objects.get(task_id=done_id),
        "other": other,
        "bobs": bobs,
    }


# --- the index -------------------------------------------------------------------------------


def test_documents_hold_the_business_data_and_the_tasks_words(world: dict[str, Any]) -> None:
    expense = world["expense"]
    doc = InstanceSearch.objects.get(instance_id=expense.instance_id).body
    # Values in the order of their keys (amount, lines, reference), whatever the sender's.
    assert doc.split("\n") == ["expense_approval", "1234.5", "taxi", "exp-2026-4916"]
    task_doc = TaskSearch.objects.get(task_id=expense.task_id)
    assert task_doc.instance_id == expense.instance_id
    assert task_doc.body.split("\n") == [
        "approve",
        "approve expense",
        "check the receipts",
        *doc.split("\n"),
    ]
    # One document per instance and per task, no more.
    assert InstanceSearch.objects.count() == WorkflowInstance.objects.count() == 3
    assert TaskSearch.objects.count() == HumanTask.objects.count() == 4


def test_query_terms_are_literal_text() -> None:
    assert search.terms('  EXP-2026-4916  "Northwind   Traders" AND * -x  ') == [
        "exp-2026-4916",
        "northwind traders",
        "and",
        "*",
        "-x",
    ]
    assert search.terms('"unbalanced quote') == ["unbalanced quote"]
    assert search.terms('a"b') == ["a", "b"]
    assert search.terms('"" \x00 ') == []
    assert search.terms("Straße STRASSE") == ["strasse"]  # casefolded, then each once
    assert search.fts_query(['say "hi"', "x*"]) == '"say ""hi""" AND "x*"'


def test_json_values_walk_any_depth_without_recursion() -> None:
    deep: Any = "bottom"
    for _ in range(5000):
        deep = {"k": [deep]}
    assert list(search.json_values(deep)) == ["bottom"]
    assert list(search.json_values({"a": True, "b": None, "c": [1, "x", 2.5]})) == ["1", "x", "2.5"]


def test_id_prefix_range() -> None:
    lo, hi = search.id_prefix_range("ABCD-12") or (None, None)
    assert lo == uuid.UUID("abcd1200-0000-0000-0000-000000000000")
    assert hi == uuid.UUID("abcd12ff-ffff-ffff-ffff-ffffffffffff")
    assert search.id_prefix_range("exp") is None
    assert search.id_prefix_range("0" * 33) is None


# --- the instance list -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "q", [KEY, "exp-2026-4916", "EXP-2026", "2026-49", "4916", "expense_approval", "taxi"]
)
def test_instance_list_finds_a_business_key_whole_and_in_part(
    people: People, world: dict[str, Any], q: str
) -> None:
    found = listed(client_for(people.admin), "/workflows/", q=q)
    expense = str(world["expense"].instance_id)
    assert expense in found
    if q not in ("4916", "expense_approval", "taxi"):
        assert found == [expense]
    if q == "4916":  # in PO-77-4916 too: a part of a key is a part of any key
        assert set(found) >= {expense, str(world["bobs"].instance_id)}


def test_instance_list_finds_instances_by_their_tasks_words(
    people: People, world: dict[str, Any]
) -> None:
    admin = client_for(people.admin)
    assert listed(admin, "/workflows/", q="northwind traders") == [str(world["other"].instance_id)]
    # A task's title finds its instance; terms may come from the task and the instance.
    assert listed(admin, "/workflows/", q="audit 4916") == [str(world["expense"].instance_id)]
    assert listed(admin, "/workflows/", q="nothing-like-this") == []


def test_instance_id_and_its_beginning_still_find_the_instance(
    people: People, world: dict[str, Any]
) -> None:
    admin = client_for(people.admin)
    iid = world["other"].instance_id
    for q in (str(iid), str(iid)[:8], str(iid)[:13].upper(), iid.hex[:10]):
        assert str(iid) in listed(admin, "/workflows/", q=q), q


def test_search_combines_with_the_other_filters(people: People, world: dict[str, Any]) -> None:
    admin = client_for(people.admin)
    expense = str(world["expense"].instance_id)
    assert listed(admin, "/workflows/", q="4916", workflow="expense_approval") == [expense]
    assert listed(admin, "/workflows/", q="4916", workflow="document_review") == []
    status = WorkflowInstance.objects.get(instance_id=expense).status
    assert listed(admin, "/workflows/", q=KEY, status="completed") == []
    assert listed(admin, "/workflows/", q=KEY, status=status) == [expense]
    html = text(admin.get("/workflows/", {"q": "4916"}))
    # The status chips count what the search found (the expense and bob's order).
    assert re.search(
        rf'status-{status}[^>]*>\s*{status.capitalize()} <span class="chip-count">2</span>', html
    )
    # The CSV export follows the search too.
    csv = admin.get("/workflows/export/instances.csv", {"q": KEY}).getvalue()
    assert csv.decode().count("\n") == 2 and expense in csv.decode()


def test_search_pages_with_the_cursor(people: People) -> None:
    iid = [uuid.uuid4() for _ in range(53)]
    f.ingest(
        [
            f.workflow_started(i, f.at(n), workflow_name="batch", initial_data={"ref": f"B-{n}"})
            for n, i in enumerate(iid)
        ]
        # An id that does not begin with "b": "b-" is also an id prefix to the console's
        # search (search.id_prefix_range), which a random id matches one time in sixteen.
        + [f.workflow_started(uuid.UUID(int=99), f.at(99), workflow_name="other")]
    )
    admin = client_for(people.admin)
    first = text(admin.get("/workflows/", {"q": "b-"}))
    rows = instance_rows(first)
    assert len(rows) == 50
    cursor = re.search(r'href="\?q=b-&amp;cursor=([^"]+)"', first)
    assert cursor, "the next page's link keeps the search"
    second = instance_rows(text(admin.get("/workflows/", {"q": "b-", "cursor": cursor.group(1)})))
    assert len(second) == 3 and not set(rows) & set(second)
    assert set(rows) | set(second) == {str(i) for i in iid}


# --- History and the audit trail -------------------------------------------------------------


def test_history_finds_tasks_by_their_workflows_business_data(
    people: People, world: dict[str, Any]
) -> None:
    erin = client_for(people.erin)
    audit = str(world["audit"].task_id)
    assert listed(erin, "/workflows/history/", q="4916") == [audit]
    assert listed(erin, "/workflows/history/", q="AUDIT") == [audit]
    assert listed(erin, "/workflows/history/", q="4916", person="bob") == [audit]
    assert listed(erin, "/workflows/history/", q="4916", person="alice") == []
    assert listed(erin, "/workflows/history/", q="northwind") == []  # not completed
    csv = erin.get("/workflows/export/tasks.csv", {"q": KEY}).getvalue()
    assert audit in csv.decode() and csv.decode().count("\n") == 2


def test_audit_trail_shows_actions_in_the_workflows_found(
    people: People, world: dict[str, Any]
) -> None:
    from workflows import actions

    actions.complete_task(task=world["expense"], user=people.alice, form_data={}, comment="")
    actions.complete_task(task=world["other"], user=people.alice, form_data={}, comment="")
    admin = client_for(people.admin)

    def trail(q: str) -> str:  # the list only: the filters' dropdown names every workflow
        html = text(admin.get("/workflows/history/audit/", {"q": q}))
        return html.split('class="timeline console-timeline audit"')[1]

    assert "Expense approval" in trail(KEY) and "Document review" not in trail(KEY)
    assert "Document review" in trail("northwind") and "Expense approval" not in trail("northwind")


# --- the assignee's lists --------------------------------------------------------------------


def test_my_tasks_finds_my_task_by_its_workflows_business_key(
    people: People, world: dict[str, Any]
) -> None:
    alice = client_for(people.alice)
    expense = str(world["expense"].task_id)
    for q in (KEY, "4916", "exp-2026", "receipts", "TAXI"):
        assert listed(alice, "/", q=q) == [expense], q
    assert listed(alice, "/", q="4916", workflow="document_review") == []
    assert listed(alice, "/", q="northwind") == [str(world["other"].task_id)]


def test_search_never_shows_what_the_viewer_may_not_see(
    people: People, world: dict[str, Any]
) -> None:
    bob = client_for(people.bob)
    # Bob's own task matches 4916 (PO-77-4916); alice's task in the expense does not show,
    # though bob completed the expense's other task.
    assert listed(bob, "/", q="4916") == [str(world["bobs"].task_id)]
    assert listed(bob, "/", q=KEY) == []
    assert listed(bob, "/queues/", q=KEY) == []
    assert listed(bob, "/done/", q=KEY) == [str(world["audit"].task_id)]
    carol = client_for(people.carol)
    assert listed(carol, "/", q="4916") == []
    assert listed(carol, "/done/", q="4916") == []
    # The console is for readers only, search or not.
    for url in ("/workflows/", "/workflows/history/", "/workflows/history/audit/"):
        assert carol.get(url, {"q": KEY}).status_code in (403, 404)


# --- hostile input ---------------------------------------------------------------------------

HOSTILE = [
    '"',
    '"""',
    'EXP-2026-4916"',
    "*",
    "exp*",
    "-4916",
    "AND",
    "4916 AND",
    "OR NOT",
    "NEAR(exp 4916)",
    "col:4916",
    "^exp",
    "{body}: x",
    "%",
    "_",
    "\\",
    "100%_\\",
    "'; DROP TABLE inbox_event; --",
    "ab",
    "é",
    "🧾 EXP",
    "\ufffd",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_are_text_never_a_500(
    people: People, world: dict[str, Any], q: str
) -> None:
    admin = client_for(people.admin)
    alice = client_for(people.alice)
    for client, url in (
        (admin, "/workflows/"),
        (admin, "/workflows/history/"),
        (admin, "/workflows/history/audit/"),
        (alice, "/"),
        (alice, "/queues/"),
        (alice, "/done/"),
    ):
        response = client.get(url, {"q": q})
        assert response.status_code == 200, (url, q)
        assert 'id="q-error"' not in text(response)
    # Wildcards and syntax are characters to find, not patterns: nothing holds these
    # ('"' alone is an empty phrase, no search; "_" is in "expense_approval").
    if q in ("%", "\\", "*", "100%_\\"):
        assert listed(admin, "/workflows/", q=q) == []


def test_nul_and_overlong_queries_are_a_clear_error(people: People, world: dict[str, Any]) -> None:
    admin = client_for(people.admin)
    alice = client_for(people.alice)
    long = "x" * 10_000
    for client, url in (
        (admin, "/workflows/"),
        (admin, "/workflows/history/"),
        (admin, "/workflows/history/audit/"),
        (alice, "/"),
        (alice, "/done/"),
    ):
        for q, message in (
            (long, "Search for at most 200 characters (this has 10000)."),
            ("exp\x00", "A search cannot hold the NUL character."),
        ):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, {"q": q}, headers=headers)
                assert response.status_code == 200, url
                html = text(response)
                assert 'id="q-error"' in html and message in html, (url, headers)
    # At the limit it is a search.
    assert 'id="q-error"' not in text(admin.get("/workflows/", {"q": "4916" * 50}))
    # A lone surrogate in the query string (invalid UTF-8) is replaced, not a 500.
    assert admin.get("/workflows/?q=%ED%A0%80").status_code == 200
    assert alice.get("/?q=%ED%A0%80%00").status_code == 200


def test_short_terms_are_found_too(people: People, world: dict[str, Any]) -> None:
    admin = client_for(people.admin)
    # Shorter than a trigram: checked by LIKE, alone or beside an indexed term.
    assert str(world["expense"].instance_id) in listed(admin, "/workflows/", q="49")
    assert listed(admin, "/workflows/", q="po 4916") == [str(world["bobs"].instance_id)]


# --- keeping the index in step ---------------------------------------------------------------


def snapshot_index() -> tuple[dict[Any, str], dict[Any, tuple[Any, str]]]:
    return (
        dict(InstanceSearch.objects.values_list("instance_id", "body")),
        {t: (i, b) for t, i, b in TaskSearch.objects.values_list("task_id", "instance_id", "body")},
    )


def test_rebuild_projections_rebuilds_the_same_index(people: People, world: dict[str, Any]) -> None:
    before = snapshot_index()
    InstanceSearch.objects.create(instance_id=uuid.uuid4(), body="stale exp-2026-4916")
    call_command("rebuild_projections", verbosity=0)
    assert snapshot_index() == before
    admin = client_for(people.admin)
    assert listed(admin, "/workflows/", q=KEY) == [str(world["expense"].instance_id)]
    # The backfill (migration 0008, search.reindex) writes the same documents as the fold.
    search.reindex()
    assert snapshot_index() == before


def test_index_follows_completion_and_late_events(people: People) -> None:
    alice = client_for(people.alice)
    admin = client_for(people.admin)
    iid, tid = uuid.uuid4(), uuid.uuid4()
    # The task arrives before its workflow's start: no business data yet.
    f.ingest([f.human_task_created(iid, f.at(10), task_id=tid, title="Sign quickly")])
    assert listed(alice, "/", q="LATE-1") == []
    f.ingest([f.workflow_started(iid, f.at(0), workflow_name="late", initial_data={"k": "LATE-1"})])
    assert listed(alice, "/", q="LATE-1") == [str(tid)]
    # A HumanTaskCreated that sorts earlier changes the title: the old words stop matching.
    f.ingest([f.human_task_created(iid, f.at(5), task_id=tid, title="Countersign")])
    assert HumanTask.objects.get(task_id=tid).title == "Countersign"
    assert listed(alice, "/", q="countersign late-1") == [str(tid)]
    assert listed(alice, "/", q="quickly") == []
    assert listed(admin, "/workflows/", q="quickly") == []
    # Completion leaves the documents as they are: gone from My tasks, found in History.
    before = snapshot_index()
    f.ingest([f.human_task_completed(iid, f.at(20), task_id=tid, completed_by="alice")])
    assert snapshot_index() == before
    assert listed(alice, "/", q="late-1") == []
    assert listed(alice, "/done/", q="late-1") == [str(tid)]
    assert listed(admin, "/workflows/history/", q="late-1") == [str(tid)]
    # The index equals a fold from scratch.
    call_command("rebuild_projections", verbosity=0)
    assert snapshot_index() == before


def test_an_empty_query_filters_nothing(people: People, world: dict[str, Any]) -> None:
    admin = client_for(people.admin)
    assert len(listed(admin, "/workflows/", q="")) == 3
    assert len(listed(admin, "/workflows/", q='  "" ')) == 3
    assert len(listed(client_for(people.alice), "/", q="   ")) == 2


class _Editor:
    from django.db import connection


def test_migration_backfills_the_documents_the_fold_writes(world: dict[str, Any]) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("workflows.migrations.0008_search_index")
    before = snapshot_index()
    search.clear()
    assert snapshot_index() == ({}, {})
    migration.backfill(apps, _Editor())
    assert snapshot_index() == before
    assert search.instance_ids(KEY) is not None
    found = set(search.instance_ids(KEY).values_list("instance_id", flat=True))  # type: ignore[union-attr]
    assert found == {world["expense"].instance_id}
