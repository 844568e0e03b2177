"""The naming rules (``workflows.labels``) and the timeline's claim, release and reassign."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support import events as b
from workflows.labels import (
    People,
    choice_label,
    humanize,
    priority_label,
    schema_choices,
    step_label,
    workflow_label,
)
from workflows.models import Event
from workflows.timeline import describe, reassignment_kind
from workflows.wire import parse_event

IID = uuid.UUID("11111111-1111-4111-8111-111111111111")
TID = uuid.UUID("22222222-2222-4222-8222-222222222222")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("finance_approval", "Finance approval"),
        ("finance-approval", "Finance approval"),
        ("financeApproval", "Finance approval"),
        ("FinanceApproval", "Finance approval"),
        ("IT_support", "IT support"),
        ("hr_review", "HR review"),
        ("it_account_setup", "IT account setup"),
        ("report_id", "Report ID"),
        ("hrReview", "HR review"),
        ("hiring", "Hiring"),
        ("Expense approval", "Expense approval"),
        ("review", "Review"),
        ("", ""),
        (None, ""),
    ],
)
def test_humanize(name: str | None, label: str) -> None:
    assert humanize(name) == label


def test_workflow_and_step_labels_prefer_the_engine_title() -> None:
    assert workflow_label("finance_approval") == "Finance approval"
    assert workflow_label("") == "Unknown workflow"
    assert workflow_label("finance_approval", "Approve a purchase") == "Approve a purchase"
    assert step_label("manager_review") == "Manager review"
    assert step_label("manager_review", "Check the receipts") == "Check the receipts"


@pytest.mark.parametrize(
    ("value", "word"),
    [(0, "Normal"), (None, "Normal"), (1, "High"), (2, "Urgent"), (7, "Urgent"), (-1, "Low")],
)
def test_priority_words(value: int | None, word: str) -> None:
    assert priority_label(value) == word


@pytest.mark.django_db
def test_people_are_resolved_in_two_queries_whatever_their_number() -> None:
    for i in range(30):
        User.objects.create_user(f"user{i}", first_name="First", last_name=f"Last{i}")
    User.objects.create_user("plain")  # no full name: the username alone, no hover
    Group.objects.create(name="finance")
    Group.objects.create(name="hr")
    raws = [*(f"user:user{i}" for i in range(30)), "plain", "group:finance", "hr", "ghost"]
    with CaptureQueriesContext(connection) as ctx:
        people = People.of(raws)
    assert len(ctx.captured_queries) == 2
    assert (people["user:user3"].label, people["user:user3"].hover) == ("First Last3", "user3")
    assert (people["plain"].label, people["plain"].hover) == ("plain", "")
    assert people["group:finance"].label == "Finance"
    assert people["hr"].label == "HR"  # a bare team name, found as a group
    assert people["ghost"].label == "ghost"  # nobody: as it came
    # A name it was not asked for falls back without a query, its prefix dropped.
    with CaptureQueriesContext(connection) as ctx:
        assert people["group:audit_team"].label == "Audit team"
        assert people["user:zoe"].label == "zoe"
    assert ctx.captured_queries == []


def test_schema_choices_take_titles_from_the_schema() -> None:
    one_of = {"oneOf": [{"const": "ok", "title": "Approve"}, {"const": "no", "title": "Reject"}]}
    assert schema_choices(one_of) == [("ok", "Approve"), ("no", "Reject")]
    named = {"enum": ["a", "b"], "x-enumNames": ["Alpha", "Beta"]}
    assert schema_choices(named) == [("a", "Alpha"), ("b", "Beta")]
    plain = {"enum": ["approve", "request_changes", 3]}
    assert schema_choices(plain) == [
        ("approve", "Approve"),
        ("request_changes", "Request changes"),
        (3, "3"),
    ]
    assert schema_choices({"type": "string"}) is None
    # Values written for people stay as they are.
    assert schema_choices({"enum": ["MacBook Pro 14", "iPhone", "CC-100 Ops"]}) == [
        ("MacBook Pro 14", "MacBook Pro 14"),
        ("iPhone", "iPhone"),
        ("CC-100 Ops", "CC-100 Ops"),
    ]
    # Names that do not match the values one for one are not trusted.
    assert schema_choices({"enum": ["a", "b"], "enumNames": ["Alpha"]}) == [("a", "A"), ("b", "B")]
    assert choice_label(one_of, "no") == "Reject"
    assert choice_label(one_of, "maybe") is None


# --- claim, release, reassign in the timeline -------------------------------------------------


def stored(obj: dict, source: str) -> Event:
    b.ingest([obj], source=source)
    return Event.objects.get(event_id=parse_event(obj).event_id)


@pytest.fixture
def named(db: None) -> People:
    User.objects.create_user("bob", first_name="Bob", last_name="Builder")
    User.objects.create_user("alice", first_name="Alice", last_name="Martin")
    Group.objects.create(name="finance")
    return People.of(["bob", "alice", "user:bob", "user:alice", "group:finance"])


def test_a_claim_reads_as_a_claim(named: People) -> None:
    event = stored(
        b.task_reassigned(
            IID,
            4,
            "approve",
            TID,
            from_assignee="group:finance",
            to_assignee="user:bob",
            reassigned_by="bob",
            reason="Claimed from the finance queue",
        ),
        "dashboard:bob",
    )
    entry = describe(event, {TID: "Approve it"}, named)
    assert entry.sentence == "Bob Builder claimed 'Approve it'"
    assert [(s.text, s.hover) for s in entry.segments if s.hover] == [("Bob Builder", "bob")]
    assert (entry.actor, entry.actor_label, entry.actor_hover) == ("bob", "Bob Builder", "bob")


def test_a_release_reads_as_a_release(named: People) -> None:
    event = stored(
        b.task_reassigned(
            IID,
            5,
            "approve",
            TID,
            from_assignee="user:alice",
            to_assignee="group:finance",
            reassigned_by="alice",
            reason="Released to the queue",
        ),
        "dashboard:alice",
    )
    assert describe(event, {TID: "Approve it"}, named).sentence == (
        "Alice Martin released 'Approve it' to Finance"
    )


def test_a_release_to_an_unprefixed_team_reads_as_a_release(named: People) -> None:
    """The dashboard releases to the team as the task had it ("finance", no prefix)."""
    event = stored(
        b.task_reassigned(
            IID,
            5,
            "approve",
            TID,
            from_assignee="user:alice",
            to_assignee="finance",
            reassigned_by="alice",
            reason="Released to the queue",
        ),
        "dashboard:alice",
    )
    people = People.of(["alice", "user:alice", "finance"])  # as a page resolves them
    assert describe(event, {TID: "Approve it"}, people).sentence == (
        "Alice Martin released 'Approve it' to Finance"
    )


def test_a_reassignment_names_both_people_and_keeps_its_reason(named: People) -> None:
    event = stored(
        b.task_reassigned(
            IID,
            6,
            "approve",
            TID,
            from_assignee="user:alice",
            to_assignee="bob",
            reassigned_by="alice",
            reason="on holiday",
        ),
        "dashboard:alice",
    )
    sentence = describe(event, {TID: "Approve it"}, named).sentence
    assert (
        sentence
        == "Alice Martin reassigned 'Approve it' from Alice Martin to Bob Builder: on holiday"
    )
    assert "user:" not in sentence and "group:" not in sentence


def test_reassignment_kind() -> None:
    assert (
        reassignment_kind(actor="bob", from_assignee="group:finance", to_assignee="user:bob")
        == "claim"
    )
    assert reassignment_kind(actor="bob", from_assignee="finance", to_assignee="bob") == "claim"
    assert (
        reassignment_kind(actor="bob", from_assignee="user:bob", to_assignee="group:finance")
        == "release"
    )
    # A bare team name is a team when the caller knows it is one.
    assert (
        reassignment_kind(actor="bob", from_assignee="bob", to_assignee="finance", to_is_group=True)
        == "release"
    )
    assert reassignment_kind(actor="bob", from_assignee="bob", to_assignee="carol") == "reassign"
    assert (
        reassignment_kind(actor="admin", from_assignee="user:bob", to_assignee="group:finance")
        == "reassign"
    )
    # A team is never "the actor", whatever its name.
    assert reassignment_kind(actor="bob", from_assignee="x", to_assignee="group:bob") == "reassign"


@pytest.mark.django_db
def test_the_lost_race_banner_says_claimed_released_or_reassigned() -> None:
    from tests.support.inbox_world import make_people, make_task, reload
    from workflows import actions

    people = make_people()
    task = make_task(assignee="group:finance")
    actions.claim_task(task=reload(task), user=people.bob)
    assert actions.describe_task_state(reload(task)).startswith("Bob Chen claimed this task at ")
    actions.release_task(task=reload(task), user=people.bob)
    assert actions.describe_task_state(reload(task)).startswith(
        "Bob Chen released this task to Finance at "
    )
    actions.claim_task(task=reload(task), user=people.alice)
    actions.reassign_task(task=reload(task), user=people.alice, to_assignee="bob", reason="yours")
    banner = actions.describe_task_state(reload(task))
    assert banner.startswith("Alice Martin reassigned this task to Bob Chen at ")
    assert "user:" not in banner and "group:" not in banner
