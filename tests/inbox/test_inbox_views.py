"""What each assignee page shows, as a full page and as the HTMX partial it swaps in."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.support.inbox_world import (
    People,
    ago,
    from_now,
    make_people,
    make_task,
    row_html,
    row_ids,
    text,
)
from workflows import actions
from workflows.models import HumanTask

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def people() -> People:
    return make_people()


@pytest.fixture
def alice(client: Client, people: People) -> Client:
    client.force_login(people.alice)
    return client


def as_user(user: object) -> Client:
    c = Client()
    c.force_login(user)  # type: ignore[arg-type]
    return c


ALICE = '<span class="person" title="alice">Alice Martin</span>'


# --- My tasks --------------------------------------------------------------------------------


def test_my_tasks_shows_my_open_tasks_with_every_column(alice: Client, people: People) -> None:
    mine = make_task(
        title="Approve laptop purchase",
        description="A 14-inch laptop for the new hire",
        workflow="expense_approval",
        step_name="manager_approval",
        created=ago(hours=3),
        due=from_now(days=3),
        priority=2,
    )
    others = make_task(assignee="bob", title="Bob's own task")
    team = make_task(assignee="finance", title="A finance queue task")
    done = make_task(title="Already done")
    actions.complete_task(task=done, user=people.alice, form_data=None)

    html = text(alice.get("/"))

    assert row_ids(html) == [str(mine.task_id)]
    for header in ("Task", "Workflow", "Step", "Created", "Due", "Priority"):
        assert f'<th scope="col">{header}</th>' in html
    row = row_html(html, mine)
    assert "Approve laptop purchase" in row
    assert "A 14-inch laptop for the new hire" in row
    # Workflow and step as people read them, not their code names.
    assert "Expense approval" in row and "expense_approval" not in row
    assert "Manager approval" in row and "manager_approval" not in row
    assert "3 hours ago" in row  # created, relative
    assert f'datetime="{mine.created_at.isoformat()}"' in row  # exact on hover/machine-readable
    assert re.search(r'<time datetime="[^"]+" title="[^"]*\d{4}[^"]*">\s*3 hours ago', row)
    assert "in 2 days" in row or "in 3 days" in row
    assert '<td data-label="Priority"><span class="priority-high">Urgent</span></td>' in row
    assert f'href="/tasks/{mine.task_id}/"' in row
    for hidden in (others, team, done):
        assert hidden.title not in html
    assert "<h1>My tasks</h1>" in html


def test_overdue_is_red_and_due_within_a_day_is_amber(alice: Client) -> None:
    late = make_task(title="Late one", due=ago(hours=2))
    soon = make_task(title="Soon one", due=from_now(hours=5))
    later = make_task(title="Later one", due=from_now(days=4))
    none = make_task(title="No due date")

    html = text(alice.get("/"))

    assert 'class="overdue"' in row_html(html, late)
    assert "overdue, 2 hours ago" in row_html(html, late)
    assert 'class="due-soon"' in row_html(html, soon)
    for row in (row_html(html, later), row_html(html, none)):
        assert "overdue" not in row and "due-soon" not in row
    assert "—" in row_html(html, none)


@pytest.fixture
def three(people: People) -> dict[str, HumanTask]:
    return {
        "old_late_low": make_task(
            title="A", created=ago(days=3), due=from_now(hours=1), priority=1
        ),
        "new_early_high": make_task(
            title="B", created=ago(hours=1), due=from_now(days=5), priority=5
        ),
        "mid_nodue_mid": make_task(title="C", created=ago(days=1), priority=3),
    }


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["old_late_low", "new_early_high", "mid_nodue_mid"]),  # due first, no date last
        ("due", ["old_late_low", "new_early_high", "mid_nodue_mid"]),
        ("created", ["old_late_low", "mid_nodue_mid", "new_early_high"]),
        ("-created", ["new_early_high", "mid_nodue_mid", "old_late_low"]),
        ("priority", ["new_early_high", "mid_nodue_mid", "old_late_low"]),
        ("nonsense", ["old_late_low", "new_early_high", "mid_nodue_mid"]),
    ],
)
def test_sorting(
    alice: Client, three: dict[str, HumanTask], sort: str, expected: list[str]
) -> None:
    html = text(alice.get("/", {"sort": sort}))
    assert row_ids(html) == [str(three[k].task_id) for k in expected]


def test_sort_choice_is_kept_selected(alice: Client, three: dict[str, HumanTask]) -> None:
    html = text(alice.get("/", {"sort": "priority"}))
    assert '<option value="priority" selected>Priority</option>' in html


def test_filters_workflow_overdue_due_soon_and_text(alice: Client) -> None:
    expense = make_task(title="Approve taxi receipt", workflow="expense_approval", due=ago(hours=1))
    review = make_task(
        title="Review contract",
        description="The NDA with Northwind Traders",
        workflow="document_review",
        due=from_now(hours=3),
    )
    onboarding = make_task(
        title="Prepare laptop", workflow="employee_onboarding", due=from_now(days=3)
    )

    def ids(**params: str) -> list[str]:
        return row_ids(text(alice.get("/", params)))

    assert ids(workflow="document_review") == [str(review.task_id)]
    assert ids(due="overdue") == [str(expense.task_id)]
    assert ids(due="soon") == [str(review.task_id)]
    assert ids(q="taxi") == [str(expense.task_id)]  # in the title
    assert ids(q="northwind") == [str(review.task_id)]  # in the description, any case
    assert ids(q="laptop", workflow="employee_onboarding") == [str(onboarding.task_id)]
    assert ids(q="laptop", workflow="document_review") == []
    assert len(ids(due="bogus")) == 3  # a bad value is ignored, not a 500


def test_workflow_filter_lists_the_workflows_of_my_tasks(alice: Client) -> None:
    make_task(workflow="document_review")
    make_task(workflow="expense_approval")
    make_task(assignee="bob", workflow="secret_workflow")
    html = text(alice.get("/", {"workflow": "document_review"}))
    # The value stays the filter's; the label is the workflow's readable name.
    assert '<option value="document_review" selected>Document review</option>' in html
    assert '<option value="expense_approval" >Expense approval</option>' in html
    assert "secret_workflow" not in html


def test_the_htmx_partial_is_only_the_table(alice: Client) -> None:
    task = make_task(title="Only in the table")
    response = alice.get("/", {"q": "table"}, **HX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="task-table"')
    assert html.rstrip().endswith("</section>")
    assert row_ids(html) == [str(task.task_id)]
    assert "<html" not in html and "mainnav" not in html and 'role="search"' not in html


def test_paging_keeps_the_filters(alice: Client) -> None:
    for i in range(30):
        make_task(title=f"Paged task {i:02}", created=ago(minutes=100 - i))
    make_task(title="Not matching")

    first = text(alice.get("/", {"q": "paged", "sort": "created"}))
    assert len(row_ids(first)) == 25
    assert "Page 1 of 2 · 30 tasks" in first
    assert 'href="?q=paged&amp;sort=created&amp;page=2"' in first
    assert "Paged task 00" in first and "Paged task 25" not in first

    second = text(alice.get("/", {"q": "paged", "sort": "created", "page": "2"}, **HX))
    assert len(row_ids(second)) == 5
    assert "Page 2 of 2 · 30 tasks" in second
    assert "Paged task 25" in second and "Paged task 29" in second
    assert 'href="?q=paged&amp;sort=created&amp;page=1"' in second
    assert "Next →" not in second

    # A page past the end shows the last page rather than failing.
    assert len(row_ids(text(alice.get("/", {"q": "paged", "page": "9"})))) == 5


def test_empty_states_say_what_to_do(alice: Client, people: People) -> None:
    html = text(alice.get("/"))
    assert "You're all caught up." in html
    assert 'href="/queues/"' in html and "Look in your team queues" in html

    make_task(title="Something")
    html = text(alice.get("/", {"q": "zzz-no-match"}))
    assert "No task matches these filters." in html
    assert "Clear the filters" in html
    assert row_ids(html) == []

    assert "queues are empty." in text(alice.get("/queues/"))
    assert "Nothing done yet." in text(alice.get("/done/"))


def test_nav_shows_counts_beside_my_tasks_and_each_queue(client: Client, people: People) -> None:
    make_task(title="Mine 1")
    make_task(title="Mine 2")
    make_task(assignee="finance", title="Finance 1")
    make_task(assignee="legal", title="Legal 1")
    make_task(assignee="legal", title="Legal 2")
    make_task(assignee="legal", title="Legal 3")
    closed = make_task(assignee="legal", title="Legal closed")
    actions.complete_task(task=closed, user=people.bob, form_data=None)

    bob = as_user(people.bob)
    html = text(bob.get("/queues/"))
    assert 'id="count-my" aria-label="0 open">0</span>' in html
    assert 'id="count-queues" aria-label="4 open">4</span>' in html
    finance, legal = (Group.objects.get(name=n).pk for n in ("finance", "legal"))
    assert f'id="count-queue-{finance}">1</span>' in html
    assert f'id="count-queue-{legal}">3</span>' in html

    client.force_login(people.alice)
    html = text(client.get("/done/"))
    assert 'id="count-my" aria-label="2 open">2</span>' in html
    assert 'id="count-queues" aria-label="1 open">1</span>' in html


# --- Team queues -------------------------------------------------------------------------


def test_team_queue_shows_my_groups_tasks_with_claim(client: Client, people: People) -> None:
    finance = make_task(assignee="finance", title="Pay the invoice", priority=4)
    legal = make_task(assignee="group:legal", title="Check the NDA")
    hr = make_task(assignee="hr", title="Not bob's team")
    make_task(assignee="bob", title="Bob's personal task")

    bob = as_user(people.bob)
    html = text(bob.get("/queues/"))
    assert set(row_ids(html)) == {str(finance.task_id), str(legal.task_id)}
    assert hr.title not in html and "Bob's personal task" not in html
    assert '<th scope="col">Team</th>' in html
    row = row_html(html, finance)
    assert '<td data-label="Team">Finance</td>' in row
    assert f'action="/tasks/{finance.task_id}/claim/"' in row
    assert ">Claim</button>" in row
    assert 'class="priority-high">Urgent<' in row
    assert 'value="claim">Claim selected</button>' in html
    assert "<h1>Team queues</h1>" in html

    only_legal = text(bob.get("/queues/", {"group": "legal"}, **HX))
    assert row_ids(only_legal) == [str(legal.task_id)]

    client.force_login(people.alice)
    assert row_ids(text(client.get("/queues/"))) == [str(finance.task_id)]


def test_team_queue_chips_mark_the_chosen_team(people: People) -> None:
    make_task(assignee="legal")
    html = text(as_user(people.bob).get("/queues/", {"group": "legal"}))
    assert re.search(r'href="\?group=legal" aria-current="true"', html)
    assert '<input type="hidden" name="group" value="legal">' in html


# --- Done ----------------------------------------------------------------------------------


def test_done_lists_completed_and_reassigned_newest_first(alice: Client, people: People) -> None:
    first = make_task(title="Completed first")
    actions.complete_task(task=first, user=people.alice, form_data=None)
    handed = make_task(title="Handed to bob")
    actions.reassign_task(task=handed, user=people.alice, to_assignee="bob", reason="holiday")
    last = make_task(title="Completed last")
    actions.complete_task(task=last, user=people.alice, form_data=None)
    make_task(title="Still open")
    someone_else = make_task(assignee="bob", title="Bob completed")
    actions.complete_task(task=someone_else, user=people.bob, form_data=None)

    html = text(alice.get("/done/"))
    assert row_ids(html) == [str(last.task_id), str(handed.task_id), str(first.task_id)]
    assert "Completed</span>" in row_html(html, last)
    assert "Reassigned</span>" in row_html(html, handed)
    assert 'now with <span class="person" title="bob">Bob Chen</span>' in row_html(html, handed)
    assert '<th scope="col">Outcome</th><th scope="col">When</th>' in html
    assert "select-cell" not in html  # nothing to act on in Done

    found = text(alice.get("/done/", {"q": "handed"}, **HX))
    assert row_ids(found) == [str(handed.task_id)]
    assert html.count("<h1>Done</h1>") == 1


def test_a_claimed_task_i_still_hold_is_not_done(client: Client, people: People) -> None:
    task = make_task(assignee="finance", title="Claimed and still mine")
    actions.claim_task(task=task, user=people.alice)
    client.force_login(people.alice)
    assert row_ids(text(client.get("/"))) == [str(task.task_id)]
    assert row_ids(text(client.get("/done/"))) == []


# --- the task page -----------------------------------------------------------------------


def test_task_page_shows_everything_about_an_open_task(alice: Client, people: People) -> None:
    task = make_task(
        assignee="finance",
        title="Approve team offsite",
        description="Two days in Lisbon\nfor 12 people",
        workflow="expense_approval",
        step_name="finance_review",
        created=ago(hours=5),
        due=from_now(hours=6),
        priority=3,
        initial_data={"amount_eur": 4200, "cost_center": "CC-17", "urgent": True},
    )
    html = text(alice.get(f"/tasks/{task.task_id}/"))

    assert '<h1 id="task-title">Approve team offsite</h1>' in html
    assert "Two days in Lisbon<br>for 12 people" in html
    facts = re.search(r"<h2>Details</h2>(.*?)</section>", html, re.S)
    assert facts
    details = facts.group(1)
    assert "<dt>Workflow</dt><dd>Expense approval" in details
    assert str(task.instance_id) in details
    assert "<dt>Step</dt><dd>Finance review</dd>" in details
    assert "<dt>Assignee</dt><dd>Finance" in details
    # Who else holds it, by full name, username on hover.
    assert (
        '<dt>Held by</dt><dd><span class="person" title="alice">Alice Martin</span>, '
        '<span class="person" title="bob">Bob Chen</span></dd>'
    ) in details
    assert 'class="due-soon"' in details
    assert "5 hours ago" in details
    assert "<dt>Priority</dt><dd>Urgent</dd>" in details
    # The instance's initial data, readably.
    assert "<dt>Amount eur</dt><dd>4,200</dd>" in html  # grouped for the locale
    assert "<dt>Cost center</dt><dd>CC-17</dd>" in html
    assert "<dt>Urgent</dt><dd>Yes</dd>" in html
    # The timeline so far: the start and the task's creation.
    timeline = re.search(r'<ol class="timeline" id="task-timeline">(.*?)</ol>', html, re.S)
    assert timeline and timeline.group(1).count("<li") == 2
    assert "Workflow Expense approval" in timeline.group(1)
    assert "expense_approval" not in timeline.group(1)
    # Actions for someone who may act.
    assert "Complete task</button>" in html
    assert 'id="reassign-form"' in html
    assert f'action="/tasks/{task.task_id}/claim/"' in html  # a queue task can be claimed


def test_task_page_for_a_closed_task_is_read_only(client: Client, people: People) -> None:
    schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "title": "Approved?"},
            "amount": {"type": "number", "title": "Approved amount"},
        },
    }
    task = make_task(title="Sign off budget", form_schema=schema)
    actions.complete_task(
        task=task,
        user=people.alice,
        form_data={"approved": True, "amount": 99.5},
        comment="Fine by me\nsee notes",
    )
    client.force_login(people.alice)
    html = text(client.get(f"/tasks/{task.task_id}/"))

    assert 'class="badge status-completed">Completed</span>' in html
    assert f"<strong>{ALICE}</strong> completed this task" in html
    assert re.search(r'<time datetime="[^"]+" title="[^"]+">\s*\d+.*ago</time>', html)
    assert "<dt>Approved?</dt><dd>Yes</dd>" in html
    assert "<dt>Approved amount</dt><dd>99.5</dd>" in html
    assert "Fine by me<br>see notes" in html
    assert "<form" not in html.split('id="task-outcome"')[1].split("</article>")[0]
    assert "Complete task</button>" not in html
    assert 'id="reassign-form"' not in html


def test_a_manager_reads_a_task_without_actions(people: People) -> None:
    task = make_task(title="Visible to managers")
    html = text(as_user(people.erin).get(f"/tasks/{task.task_id}/"))
    assert f"You can read this task, but it is assigned to {ALICE}." in html
    assert "Complete task</button>" not in html
    assert 'id="reassign-form"' not in html


def test_assignee_picker_suggests_people_and_teams(alice: Client) -> None:
    html = text(alice.get("/assignees/", {"to_assignee": "bo"}, **HX))
    assert html.strip().startswith('<datalist id="assignee-options">')
    assert '<option value="bob">Bob Chen</option>' in html
    html = text(alice.get("/assignees/", {"to_assignee": "leg"}, **HX))
    assert '<option value="group:legal">Team legal</option>' in html
    html = text(alice.get("/assignees/", {"to_assignee": "   "}, **HX))
    assert "<option" not in html


def test_sign_in_page_is_styled_like_the_rest(client: Client, people: People) -> None:
    html = text(client.get("/accounts/login/"))
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html
    assert '<label for="id_username">Username</label>' in html
    assert '<main id="main"' in html
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-7"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert 'class="whoami" href="/settings/" title="Your settings">alice</a>' in text(response)


def test_each_queue_count_has_its_own_id_whatever_the_team_is_called(people: People) -> None:
    # Names a slug would empty or merge: each count must still be its own element.
    names = ["财务", "法务", "R&D", "r-d"]
    teams = [Group.objects.create(name=n) for n in names]
    people.carol.groups.add(*teams)
    for i, name in enumerate(names):
        for _ in range(i + 1):
            make_task(assignee=f"group:{name}", title=f"For {name}")
    html = text(as_user(people.carol).get("/queues/"))
    for i, team in enumerate(teams):
        assert f'id="count-queue-{team.pk}">{i + 1}</span>' in html
    assert len(set(re.findall(r'id="(count-queue-[^"]*)"', html))) == len(
        re.findall(r'id="(count-queue-[^"]*)"', html)
    )
