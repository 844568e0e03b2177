"""Who may reach what: every URL pattern of the URL conf, for every role and a token.

The patterns are read from the URL conf, and each must be classified in ``ACCESS`` below: a
new URL without a row fails ``test_every_url_pattern_is_classified``, so it cannot be
forgotten. docs/security.md states the same model in prose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from demo.users import ensure_demo_users
from savedviews.models import SavedView
from tests.support import events as b
from workflows.actions import cancel_instance
from workflows.models import IngestToken, OutboxCommand

pytestmark = pytest.mark.django_db

# People: alice is the task's assignee, bob an assignee who may not see it, erin a manager,
# admin an admin. Tokens are engines: they reach the JSON API and nothing else; "token" has
# the default scope (events:write), "reader" the read scope only.
ROLES = ("anonymous", "assignee", "other", "manager", "admin", "token", "reader")
USERNAMES = {"assignee": "alice", "other": "bob", "manager": "erin", "admin": "admin"}

ALLOW, LOGIN, ADMIN_LOGIN, NOT_FOUND, UNAUTHORIZED, FORBIDDEN = (
    "allow",
    "login",
    "admin-login",
    "404",
    "401",
    "403",
)
# In Django's admin, staff pass the sign-in; each model page then follows the model
# permissions of their role (403 without them), which test_admin_rights pins down.
STAFF = "staff"


def _rule(**per_role: str) -> dict[str, str]:
    assert set(per_role) == set(ROLES), per_role
    return per_role


# What each class of URL gives each role.
# Signing out: everyone ends at the sign-in page.
SIGN_OUT = _rule(
    anonymous=LOGIN,
    assignee=LOGIN,
    other=LOGIN,
    manager=LOGIN,
    admin=LOGIN,
    token=LOGIN,
    reader=LOGIN,
)
NOWHERE = _rule(
    anonymous=NOT_FOUND,
    assignee=NOT_FOUND,
    other=NOT_FOUND,
    manager=NOT_FOUND,
    admin=NOT_FOUND,
    token=NOT_FOUND,
    reader=NOT_FOUND,
)
PUBLIC = _rule(
    anonymous=ALLOW,
    assignee=ALLOW,
    other=ALLOW,
    manager=ALLOW,
    admin=ALLOW,
    token=ALLOW,
    reader=ALLOW,
)
SIGNED_IN = _rule(
    anonymous=LOGIN,
    assignee=ALLOW,
    other=ALLOW,
    manager=ALLOW,
    admin=ALLOW,
    token=LOGIN,
    reader=LOGIN,
)
# alice's task: whoever may see it (its assignee, admins, managers); anyone else a 404.
TASK_PAGE = _rule(
    anonymous=LOGIN,
    assignee=ALLOW,
    other=NOT_FOUND,
    manager=ALLOW,
    admin=ALLOW,
    token=LOGIN,
    reader=LOGIN,
)
# Acting on alice's task: its assignee and admins. A manager reads everything, acts on
# nothing that is not theirs.
TASK_ACTION = _rule(
    anonymous=LOGIN,
    assignee=ALLOW,
    other=NOT_FOUND,
    manager=NOT_FOUND,
    admin=ALLOW,
    token=LOGIN,
    reader=LOGIN,
)
# alice's saved view: hers alone; anyone else's request is a 404, admins' included.
OWN_VIEW = _rule(
    anonymous=LOGIN,
    assignee=ALLOW,
    other=NOT_FOUND,
    manager=NOT_FOUND,
    admin=NOT_FOUND,
    token=LOGIN,
    reader=LOGIN,
)
CONSOLE_READ = _rule(
    anonymous=LOGIN,
    assignee=NOT_FOUND,
    other=NOT_FOUND,
    manager=ALLOW,
    admin=ALLOW,
    token=LOGIN,
    reader=LOGIN,
)
CONSOLE_MANAGE = _rule(
    anonymous=LOGIN,
    assignee=NOT_FOUND,
    other=NOT_FOUND,
    manager=NOT_FOUND,
    admin=ALLOW,
    token=LOGIN,
    reader=LOGIN,
)
DJANGO_ADMIN = _rule(
    anonymous=ADMIN_LOGIN,
    assignee=ADMIN_LOGIN,
    other=ADMIN_LOGIN,
    manager=ADMIN_LOGIN,
    admin=STAFF,
    token=ADMIN_LOGIN,
    reader=ADMIN_LOGIN,
)
# Django's admin sends a signed-in non-staff person who posts to its logout to its index.
ADMIN_SIGN_OUT = _rule(
    anonymous=ALLOW,
    assignee=ALLOW,
    other=ALLOW,
    manager=ALLOW,
    admin=LOGIN,
    token=ALLOW,
    reader=ALLOW,
)
# The JSON API reads: a session sees what its pages show; a token with the read scope all,
# a token without it is refused (403, naming the scope).
API_READ = _rule(
    anonymous=UNAUTHORIZED,
    assignee=ALLOW,
    other=ALLOW,
    manager=ALLOW,
    admin=ALLOW,
    token=FORBIDDEN,
    reader=ALLOW,
)
API_READ_TASK = _rule(
    anonymous=UNAUTHORIZED,
    assignee=ALLOW,
    other=NOT_FOUND,
    manager=ALLOW,
    admin=ALLOW,
    token=FORBIDDEN,
    reader=ALLOW,
)
API_INGEST = _rule(
    anonymous=UNAUTHORIZED,
    assignee=UNAUTHORIZED,
    other=UNAUTHORIZED,
    manager=UNAUTHORIZED,
    admin=UNAUTHORIZED,
    token=ALLOW,
    reader=FORBIDDEN,
)
# People's actions through the API: a session, never a token (an engine reports what
# happened through POST /api/events; it does not act as a person).
API_TASK_ACTION = _rule(
    anonymous=UNAUTHORIZED,
    assignee=ALLOW,
    other=NOT_FOUND,
    manager=NOT_FOUND,
    admin=ALLOW,
    token=UNAUTHORIZED,
    reader=UNAUTHORIZED,
)


@dataclass(frozen=True)
class Access:
    rule: dict[str, str]
    methods: tuple[str, ...] = ("GET",)
    body: dict[str, Any] | None = None  # for a JSON POST: a valid one, so a 422 is no answer


ACCESS: dict[str, Access] = {
    # operations: the probes are public; /metrics answers allowed addresses (the test
    # client's 127.0.0.1 is one by default) or METRICS_TOKEN, whoever is signed in
    # (tests/ops/test_metrics.py refuses the others)
    "healthz": Access(PUBLIC),
    "readyz": Access(PUBLIC),
    "metrics": Access(PUBLIC),
    # sign-in and the password pages of django.contrib.auth
    "login": Access(PUBLIC),
    "logout": Access(SIGN_OUT, ("POST",)),
    "password_change": Access(SIGNED_IN, ("GET", "POST")),
    "password_change_done": Access(SIGNED_IN),
    # the inbox
    "my_tasks": Access(SIGNED_IN),
    "start": Access(SIGNED_IN),
    "team_queues": Access(SIGNED_IN),
    "done": Access(SIGNED_IN),
    "assignee_search": Access(SIGNED_IN),
    "settings": Access(SIGNED_IN, ("GET", "POST")),
    "bulk_action": Access(SIGNED_IN, ("POST",)),
    "task_detail": Access(TASK_PAGE),
    "task_complete": Access(TASK_ACTION, ("POST",)),
    "task_reassign": Access(TASK_ACTION, ("POST",)),
    "task_claim": Access(TASK_ACTION, ("POST",)),
    "task_release": Access(TASK_ACTION, ("POST",)),
    # saved views: one's own (an empty post is a validation answer: no name)
    "saved_views": Access(SIGNED_IN),
    "saved_view_create": Access(SIGNED_IN, ("POST",)),
    "saved_view_rename": Access(OWN_VIEW, ("POST",)),
    "saved_view_delete": Access(OWN_VIEW, ("POST",)),
    # the console
    "workflows_ui:instances": Access(CONSOLE_READ),
    "workflows_ui:instance_detail": Access(CONSOLE_READ),
    "workflows_ui:history": Access(CONSOLE_READ),
    "workflows_ui:audit": Access(CONSOLE_READ),
    "workflows_ui:person_activity": Access(CONSOLE_READ),
    "workflows_ui:reports": Access(CONSOLE_READ),
    "workflows_ui:export_instances": Access(CONSOLE_READ),
    "workflows_ui:export_tasks": Access(CONSOLE_READ),
    "workflows_ui:export_events": Access(CONSOLE_READ),
    "workflows_ui:unrouted": Access(CONSOLE_MANAGE),
    "workflows_ui:unrouted_assign": Access(CONSOLE_MANAGE, ("POST",)),
    "workflows_ui:unrouted_bulk_assign": Access(CONSOLE_MANAGE, ("POST",)),
    "workflows_ui:outbox": Access(CONSOLE_MANAGE),
    "workflows_ui:outbox_retry": Access(CONSOLE_MANAGE, ("POST",)),
    "workflows_ui:bulk_cancel": Access(CONSOLE_MANAGE, ("GET", "POST")),
    "workflows_ui:instance_action": Access(CONSOLE_MANAGE, ("GET", "POST")),
    # the JSON API
    "api:api-root": Access(NOWHERE),
    "api:openapi-json": Access(PUBLIC),
    "api:openapi-view": Access(PUBLIC),
    "api:post_events": Access(API_INGEST, ("POST",), b.workflow_started(b.new_id(), 0)),
    "api:list_tasks": Access(API_READ),
    "api:list_instances": Access(API_READ),
    "api:get_instance": Access(API_READ_TASK),
    "api:complete": Access(API_TASK_ACTION, ("POST",), {"form_data": {}, "comment": "ok"}),
    "api:reassign": Access(
        API_TASK_ACTION, ("POST",), {"to_assignee": "bob", "reason": "the matrix"}
    ),
    "api:claim": Access(API_TASK_ACTION, ("POST",)),
    "api:release": Access(API_TASK_ACTION, ("POST",)),
}
# Django's admin: every other pattern under admin/ is for staff (admin_view wraps them).
ADMIN_NAMESPACE = "admin"
ACCESS_ADMIN_OWN = {
    "admin:login": Access(PUBLIC),
    "admin:logout": Access(ADMIN_SIGN_OUT, ("POST",)),
}


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the route for an unnamed pattern
    route: str  # the pattern, for reading a failure
    pattern: URLPattern
    prefix: str


def _walk(resolver: URLResolver, prefix: str = "", ns: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{ns}:{entry.namespace}".strip(":") if entry.namespace else ns
            yield from _walk(entry, prefix + str(entry.pattern), inner)
        else:
            route = prefix + str(entry.pattern)
            key = f"{ns}:{entry.name}".strip(":") if entry.name else route
            yield Route(key, route, entry, prefix)


ROUTES = list(_walk(get_resolver()))


def test_every_url_pattern_is_classified() -> None:
    unclassified = [
        r.route
        for r in ROUTES
        if r.key not in ACCESS
        and not r.key.startswith(ADMIN_NAMESPACE + ":")
        and not r.route.startswith("admin/")
    ]
    assert not unclassified, f"classify these URLs in ACCESS: {unclassified}"
    stale = set(ACCESS) - {r.key for r in ROUTES}
    assert not stale, f"ACCESS names URLs that no longer exist: {stale}"


# --- the world every case runs in -------------------------------------------------------------


@pytest.fixture
def world() -> dict[str, Any]:
    ensure_demo_users()
    iid, tid = b.waiting_instance(assignee="alice", title="Approve the matrix")
    other_iid, _ = b.waiting_instance(assignee="bob")
    admin = User.objects.get(username="admin")
    cancel_instance(instance_id=other_iid, user=admin, reason="for the outbox row")
    _, writer = IngestToken.issue("matrix-engine")  # the default scope: events:write
    _, reader = IngestToken.issue("matrix-reader", scopes=["read"])
    alice = User.objects.get(username="alice")
    view = SavedView.objects.create(owner=alice, page="my_tasks", name="Matrix", query="q=a")
    return {
        "view_id": view.pk,
        "task_id": tid,
        "instance_id": iid,
        "command_pk": OutboxCommand.objects.get().pk,
        "token": writer,
        "reader": reader,
    }


def _args(route: Route, world: dict[str, Any]) -> dict[str, str]:
    """Values for the pattern's parameters: the world's own objects."""
    values = {
        "task_id": str(world["task_id"]),
        "instance_id": str(world["instance_id"]),
        "command_pk": str(world["command_pk"]),
        "view_id": str(world["view_id"]),
        "username": "alice",
        "action": "cancel",
        "uidb64": "MQ",
        "token": "set-password",
        "object_id": "1",
        "content_type_id": "1",
        "id": "1",
        "url": "no-such-page/",
        "app_label": "workflows",
    }
    names = route.pattern.pattern.regex.groupindex
    prefix_names = get_resolver().pattern.regex.groupindex  # none today, checked below
    assert not prefix_names
    return {name: values[name] for name in names}


def _url(route: Route, world: dict[str, Any]) -> str:
    from django.urls.resolvers import RegexPattern, RoutePattern

    args = _args(route, world)
    pattern = route.pattern.pattern
    if isinstance(pattern, RoutePattern):
        path = str(pattern)
        for name, value in args.items():
            start = path.index("<")
            end = path.index(">", start)
            assert path[start + 1 : end].split(":")[-1] == name
            path = path[:start] + value + path[end + 1 :]
    else:
        assert isinstance(pattern, RegexPattern)
        path = args["url"] if route.route.endswith("(?P<url>.*)$") else f"{args['app_label']}/"
    return "/" + route.prefix + path


def _client(role: str, world: dict[str, Any]) -> Client:
    if role in ("token", "reader"):
        return Client(HTTP_AUTHORIZATION=f"Bearer {world[role]}")
    client = Client()
    if role in USERNAMES:
        username = USERNAMES[role]
        client.force_login(User.objects.get(username=username))
    return client


def _verdict(response: Any) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {response.content[:300]!r}"
    if status == 302:
        location = response["Location"]
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
        if location.startswith("/accounts/login/"):
            return LOGIN
        return ALLOW
    if status == 401:
        return UNAUTHORIZED
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    return ALLOW


def _cases() -> Iterator[Any]:
    for route in ROUTES:
        access: Access | None
        if route.route.startswith("admin/"):
            access = ACCESS_ADMIN_OWN.get(route.key, Access(DJANGO_ADMIN))
        else:
            access = ACCESS.get(route.key)
        if access is None:
            continue  # reported by test_every_url_pattern_is_classified
        for method in access.methods:
            for role in ROLES:
                yield pytest.param(route, method, role, access, id=f"{method} {route.route} {role}")


@pytest.mark.parametrize(("route", "method", "role", "access"), list(_cases()))
def test_access(
    world: dict[str, Any], route: Route, method: str, role: str, access: Access
) -> None:
    expected = access.rule[role]
    url = _url(route, world)
    client = _client(role, world)
    if method == "GET":
        response = client.get(url)
    else:
        # An empty form or body: authorized people get a validation answer, never a change
        # that a later case would trip over; the rest are refused before it is read.
        body = access.body or {}
        response = client.post(url, data=body, content_type="application/json")
        if response.status_code == 415:  # a page's form endpoint wants a form post
            response = client.post(url, {})
    verdict = _verdict(response)
    if expected == STAFF:
        assert verdict in (ALLOW, NOT_FOUND, FORBIDDEN), (
            f"{role} {method} {url}: {response.status_code}"
        )
        return
    assert verdict == expected, (
        f"{role} {method} {url}: {response.status_code} {response.get('Location', '')}"
    )
