"""Saved views: the name's rules, the filters as each page's form takes them, whose views
are whose, the pages' "Save view" and the management page, and counts that are the lists'."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection
from django.http import Http404, QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inbox import selectors as inbox_selectors
from savedviews import selectors, services
from savedviews.forms import MAX_VIEWS, FiltersRefused, RenameViewForm, SaveViewForm, normalise
from savedviews.models import NAME_MAX_LENGTH, SavedView
from savedviews.pages import PAGES
from tests.support.inbox_world import People, from_now, make_people, make_task, text
from workflows_ui import selectors as console_selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> People:
    return make_people()


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def save(user: User, page: str = "my_tasks", name: str = "Mine", query: str = "") -> SavedView:
    form = SaveViewForm({"name": name, "page": page, "query": query}, user=user)
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    return services.save_view(user=user, page=data["page"], name=data["name"], query=data["query"])


def errors(user: User, **data: str) -> dict[str, list[str]]:
    form = SaveViewForm({"page": "my_tasks", "query": "", **data}, user=user)
    assert not form.is_valid()
    return dict(form.errors)


# --- normalisation and validation --------------------------------------------------------


def test_only_the_pages_own_filters_are_kept_in_a_fixed_order_without_page_or_cursor(
    people: People,
) -> None:
    query = "sort=priority&page=3&cursor=abc&q=++invoice+&utm=x&due=soon&group=finance"
    assert normalise(page="my_tasks", query=query, user=people.alice) == (
        "q=invoice&due=soon&sort=priority"
    )
    assert normalise(page="team_queues", query="?" + query, user=people.alice) == (
        "group=finance&q=invoice&due=soon&sort=priority"
    )


def test_instance_filters_are_normalised_by_the_instance_form(people: People) -> None:
    make_task(workflow="expense_approval")
    query = "cursor=xyz&started_to=2026-02-01&status=running&workflow=expense_approval&x=1"
    assert normalise(page="instances", query=query, user=people.admin) == (
        "status=running&workflow=expense_approval&started_to=2026-02-01"
    )


@pytest.mark.parametrize(
    ("page", "query", "words"),
    [
        ("my_tasks", "due=someday", "Due “someday”"),
        ("my_tasks", "sort=random", "Sort by “random”"),
        ("instances", "status=sleeping", "sleeping"),
        ("instances", "started_from=yesterday", "Started from “yesterday”"),
        ("team_queues", "group=hr", "You are not in a team named “hr”"),
        ("my_tasks", "q=a%00b", "Search “a\\u0000b”: A search cannot hold the NUL character."),
    ],
)
def test_filters_the_pages_form_rejects_are_refused_by_name(
    people: People, page: str, query: str, words: str
) -> None:
    user = people.admin if page == "instances" else people.alice
    with pytest.raises(FiltersRefused, match=re.escape(words)):
        normalise(page=page, query=query, user=user)
    assert words in " ".join(errors(user, name="Bad", page=page, query=query)["query"])
    assert not SavedView.objects.exists()


def test_name_rules(people: People) -> None:
    save(people.alice, name="Urgent")
    assert errors(people.alice, name="") == {"name": ["Give the view a name."]}
    assert errors(people.alice, name="   ") == {"name": ["Give the view a name."]}
    assert "at most 80" in errors(people.alice, name="x" * (NAME_MAX_LENGTH + 1))["name"][0]
    assert errors(people.alice, name="uRGENT") == {
        "name": ["You already have a view named “uRGENT”."]
    }
    assert "cannot be stored" in errors(people.alice, name="a\ud800b")["name"][0]
    assert errors(people.alice, name="a\x00b") == {"name": ["Null characters are not allowed."]}
    # Another person may use the same name.
    save(people.bob, name="Urgent")


def test_the_database_refuses_a_duplicate_name_in_any_case(people: People) -> None:
    save(people.alice, name="Urgent")
    with pytest.raises(services.NameTaken):
        services.save_view(user=people.alice, page="my_tasks", name="URGENT", query="")
    with pytest.raises(IntegrityError):
        SavedView.objects.create(owner=people.alice, page="my_tasks", name="urgent")


def test_only_console_readers_may_save_instance_views(people: People) -> None:
    assert errors(people.alice, name="All", page="instances") == {
        "page": ["You cannot save views of this page."]
    }
    save(people.erin, page="instances", name="All")


def test_a_person_keeps_at_most_max_views(people: People) -> None:
    for n in range(MAX_VIEWS):
        SavedView.objects.create(owner=people.alice, page="my_tasks", name=f"v{n}", position=n)
    assert "delete one first" in errors(people.alice, name="One more")["__all__"][0]


def test_new_views_go_last_and_renaming_keeps_the_place(people: People) -> None:
    first, second = save(people.alice, name="A"), save(people.alice, name="B")
    assert (first.position, second.position) == (0, 1)
    form = RenameViewForm({"name": "a"}, user=people.alice, view=first)  # its own name, recased
    assert form.is_valid()
    services.rename_view(view=first, name="a")
    assert [v.name for v in selectors.views_for(people.alice)] == ["a", "B"]
    assert not RenameViewForm({"name": "b"}, user=people.alice, view=first).is_valid()


# --- counts are the lists' ------------------------------------------------------------------


def test_counts_match_the_pages_lists_in_one_query(people: People) -> None:
    make_task(title="Pay invoice 1", workflow="invoices")
    make_task(title="Pay invoice 2", workflow="invoices", due=from_now(hours=2))
    make_task(title="Approve trip", workflow="travel")
    make_task(assignee="finance", title="Team invoice", workflow="invoices")
    make_task(assignee="legal", title="Not alice's team")
    views = [
        save(people.alice, name="All mine"),
        save(people.alice, name="Invoices", query="q=invoice"),
        save(people.alice, name="Soon", query="due=soon&workflow=invoices"),
        save(people.alice, "team_queues", name="Team", query=""),
        save(people.alice, "team_queues", name="Finance invoices", query="group=finance&q=inv"),
    ]
    with CaptureQueriesContext(connection) as queries:
        counted = selectors.counts(people.alice, views)
    assert len(queries) == 1
    expected = {}
    for view in views:
        spec = PAGES[view.page]
        filters = spec.filters(spec.form(QueryDict(view.query), {}))
        select = inbox_selectors.my_tasks if view.page == "my_tasks" else inbox_selectors.team_queue
        expected[view.pk] = len(list(select(user=people.alice, filters=filters)))
    assert counted == expected
    assert list(counted.values()) == [3, 2, 1, 1, 1]


def test_instance_view_counts_match_the_instance_list(people: People) -> None:
    make_task(workflow="invoices")
    make_task(workflow="invoices")
    make_task(workflow="travel")
    every = save(people.admin, "instances", name="Every")
    invoices = save(people.admin, "instances", name="Invoices", query="workflow=invoices")
    counted = selectors.counts(people.admin, [every, invoices])
    assert counted == {
        every.pk: console_selectors.instance_list(filters={}).count(),
        invoices.pk: console_selectors.instance_list(filters={"workflow": "invoices"}).count(),
    }
    assert counted == {every.pk: 3, invoices.pk: 2}


def test_instance_views_leave_the_navigation_with_the_console(people: People) -> None:
    view = save(people.erin, "instances", name="Running", query="status=running")
    assert [r.view for r in selectors.nav_views(people.erin)] == [view]
    people.erin.groups.clear()
    erin = User.objects.get(pk=people.erin.pk)  # permissions are cached per object
    assert selectors.nav_views(erin) == []
    assert SavedView.objects.filter(pk=view.pk).exists()  # kept, for when the role returns


# --- pages -----------------------------------------------------------------------------------


def test_each_page_offers_save_view_with_its_current_filters(people: People) -> None:
    html = text(as_user(people.alice).get("/?q=invoice&page=2"))
    assert 'id="save-view-form"' in html
    assert 'name="page" value="my_tasks"' in html
    assert 'name="query" value="q=invoice&amp;page=2"' in html
    assert 'name="page" value="team_queues"' in text(as_user(people.alice).get("/queues/"))
    assert 'name="page" value="instances"' in text(as_user(people.admin).get("/workflows/"))
    assert 'id="save-view-form"' not in text(as_user(people.alice).get("/done/"))


def test_saving_without_htmx_redirects_to_the_view_and_the_nav_lists_it(people: People) -> None:
    make_task(title="Pay invoice")
    make_task(title="Approve trip")
    client = as_user(people.alice)
    response = client.post(
        "/views/save/", {"name": "Invoices", "page": "my_tasks", "query": "page=2&q=invoice"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/?q=invoice"
    view = SavedView.objects.get()
    assert (view.owner, view.page, view.name, view.query) == (
        people.alice,
        "my_tasks",
        "Invoices",
        "q=invoice",
    )
    html = text(client.get("/?q=invoice"))
    link = re.search(rf'<a href="/\?q=invoice" id="view-link-{view.pk}"[^>]*>(.*?)</a>', html, re.S)
    assert link, html
    assert "aria-current" in link.group(0)
    assert f'id="count-view-{view.pk}" aria-label="1 matching">1</span>' in link.group(1)


def test_saving_with_htmx_returns_the_form_and_the_nav_out_of_band(people: People) -> None:
    client = as_user(people.alice)
    response = client.post(
        "/views/save/",
        {"name": "Soon", "page": "my_tasks", "query": "due=soon"},
        HTTP_HX_REQUEST="true",
    )
    html = text(response)
    assert response.status_code == 200
    assert 'id="save-view-form"' in html and "Saved “" in html
    assert '<span id="nav-views" class="nav-views" hx-swap-oob="true">' in html
    assert 'href="/?due=soon"' in html


def test_a_refused_save_says_why(people: People) -> None:
    save(people.alice, name="Mine")
    client = as_user(people.alice)
    data = {"name": "mine", "page": "my_tasks", "query": "due=never"}
    plain = client.post("/views/save/", data)
    assert plain.status_code == 422
    html = text(plain)
    assert "The view was not saved" in html
    assert "You already have a view named “mine”." in html
    assert "Due “never”" in html
    assert 'href="/?due=never"' in html  # back to the page
    htmx = client.post("/views/save/", data, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200  # htmx swaps no error response
    assert 'id="save-view-errors"' in text(htmx) and 'value="mine"' in text(htmx)
    assert SavedView.objects.count() == 1


def test_management_page_renames_and_deletes(people: People) -> None:
    view = save(people.alice, name="Mine")
    save(people.alice, name="Other")
    client = as_user(people.alice)
    page = text(client.get("/views/"))
    assert "Mine" in page
    # On a phone each row is a card: its cells say what they are.
    assert '<td data-label="Page">' in page and '<td data-label="Matching">' in page

    taken = client.post(f"/views/{view.pk}/rename/", {"name": "OTHER"})
    assert taken.status_code == 422
    assert "You already have a view named “OTHER”." in text(taken)
    empty = client.post(f"/views/{view.pk}/rename/", {"name": ""}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 200 and "Give the view a name." in text(empty)

    renamed = client.post(f"/views/{view.pk}/rename/", {"name": "Urgent"}, HTTP_HX_REQUEST="true")
    html = text(renamed)
    assert "Renamed “Mine” to “Urgent”." in html
    assert 'hx-swap-oob="true"' in html and "Urgent" in html
    view.refresh_from_db()
    assert view.name == "Urgent"

    deleted = client.post(f"/views/{view.pk}/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == "/views/"
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_another_persons_view_is_a_404(people: People) -> None:
    view = save(people.alice, name="Mine")
    bob = as_user(people.bob)
    assert bob.post(f"/views/{view.pk}/rename/", {"name": "Bob's"}).status_code == 404
    assert bob.post(f"/views/{view.pk}/delete/").status_code == 404
    assert "Mine" not in text(bob.get("/views/"))
    assert f"count-view-{view.pk}" not in text(bob.get("/"))
    with pytest.raises(Http404):
        selectors.own_view(user=people.bob, view_id=view.pk)
    view.refresh_from_db()
    assert view.name == "Mine"


def test_views_need_a_post_and_a_csrf_token(people: People) -> None:
    view = save(people.alice, name="Mine")
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.alice)
    assert client.get(f"/views/{view.pk}/delete/").status_code == 405
    assert client.post(f"/views/{view.pk}/delete/").status_code == 403
    assert SavedView.objects.filter(pk=view.pk).exists()
