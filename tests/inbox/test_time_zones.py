"""Whose clock dates are read on (pages/zones.py): the saved zone, else the browser's ``tz``
cookie, else settings.TIME_ZONE; every date with the local time and UTC on hover; one duration
format; numbers grouped for the locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from pages.templatetags.formatting import duration, number, readable
from pages.zones import zone_for
from tests.support.inbox_world import People, make_people, make_task, text
from workflows import actions
from workflows.preferences import save_preferences

pytestmark = pytest.mark.django_db

# 2026-07-01 12:34:56 UTC: 21:34 in Tokyo (no summer time), 08:34 in New York (EDT).
DUE = datetime(2026, 7, 1, 12, 34, 56, tzinfo=UTC)
TOKYO_TITLE = "2026-07-01 21:34:56 Asia/Tokyo · 2026-07-01 12:34:56 UTC"


@pytest.fixture
def people() -> People:
    return make_people()


def client_for(user: object, **cookies: str) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    for name, value in cookies.items():
        client.cookies[name] = value
    return client


def due_on_task_page(client: Client, task_id: object) -> str:
    html = text(client.get(f"/tasks/{task_id}/"))
    found = re.search(r"<dt>Due</dt><dd>(.*?)</dd>", html)
    assert found, html
    return found.group(1)


def test_a_saved_zone_shows_every_date_on_that_clock_with_utc_on_hover(people: People) -> None:
    task = make_task(due=DUE)
    save_preferences(
        people.alice, time_zone="Asia/Tokyo", notify_assigned=False, notify_digest=False
    )
    # the saved zone wins over the browser's
    due = due_on_task_page(client_for(people.alice, tz="America/New_York"), task.task_id)
    assert f'<time datetime="2026-07-01T12:34:56+00:00" title="{TOKYO_TITLE}"' in due
    assert ">2026-07-01 21:34</time>" in due
    # the list says it relatively, with the same hover
    html = text(client_for(people.alice).get("/"))
    assert f'title="{TOKYO_TITLE}"' in html


def test_without_a_saved_zone_the_browsers_cookie_is_used(people: People) -> None:
    task = make_task(due=DUE)
    due = due_on_task_page(client_for(people.alice, tz="America%2FNew_York"), task.task_id)
    assert ">2026-07-01 08:34</time>" in due
    assert 'title="2026-07-01 08:34:56 America/New_York · 2026-07-01 12:34:56 UTC"' in due


@pytest.mark.parametrize("cookie", ["Not/AZone", "../../etc", "x" * 200, "%00", ""])
def test_a_bad_cookie_is_ignored(people: People, settings: object, cookie: str) -> None:
    task = make_task(due=DUE)
    response = client_for(people.alice, tz=cookie).get(f"/tasks/{task.task_id}/")
    assert response.status_code == 200
    due = due_on_task_page(client_for(people.alice, tz=cookie), task.task_id)
    assert ">2026-07-01 12:34</time>" in due  # settings.TIME_ZONE, UTC here
    assert "UTC · 2026-07-01 12:34:56 UTC" in due


def test_the_server_default_zone_when_nothing_else(people: People, settings: object) -> None:
    settings.TIME_ZONE = "Europe/Paris"  # type: ignore[attr-defined]
    assert zone_for(people.alice, None) == "Europe/Paris"
    assert zone_for(people.alice, "Bogus") == "Europe/Paris"
    assert zone_for(None, "Asia%2FTokyo") == "Asia/Tokyo"  # signed out: the browser's


def test_the_zone_is_only_for_that_request(people: People) -> None:
    save_preferences(
        people.alice, time_zone="Asia/Tokyo", notify_assigned=False, notify_digest=False
    )
    client_for(people.alice).get("/")
    assert timezone.get_current_timezone_name() == "UTC"


def test_the_console_shows_dates_in_the_viewers_zone(people: People) -> None:
    task = make_task(created=DUE, due=DUE + timedelta(days=1))
    erin = client_for(people.erin, tz="Asia/Tokyo")
    html = text(erin.get(f"/workflows/{task.instance_id}/"))
    assert "due 2026-07-02 21:34 Asia/Tokyo" in html  # the timeline's sentence
    assert "due 2026-07-02 21:34" in html and "due 2026-07-02 12:34" not in html  # the chart
    assert "Asia/Tokyo · 2026-07-01 12:" in html  # the timeline's events, hovered
    assert re.search(
        r'<time datetime="2026-07-01T12:3\d:\d\d\+00:00" title="[^"]+">2026-07-01 21:3', html
    )


def test_timeline_gaps_use_the_one_duration_format(people: People) -> None:
    task = make_task(created=datetime.now(UTC) - timedelta(hours=3, minutes=5))
    actions.complete_task(task=task, user=people.alice, form_data=None)
    html = text(client_for(people.alice).get(f"/tasks/{task.task_id}/"))
    assert re.search(r"· 3 h [45] min later", html), html


def test_one_duration_format() -> None:
    assert duration(None) == "—"
    assert duration(45) == "45 s"
    assert duration(185) == "3 min 5 s"
    assert duration(timedelta(hours=2, minutes=10)) == "2 h 10 min"
    assert duration(timedelta(days=3, hours=4, minutes=59)) == "3 d 4 h"
    out = Template("{% load formatting %}{{ end|duration_since:start }}").render(
        Context({"start": DUE, "end": DUE + timedelta(minutes=90)})
    )
    assert out == "1 h 30 min"


def test_numbers_are_grouped_for_the_locale() -> None:
    assert number(12500.5) == "12,500.5"
    assert number(1234567) == "1,234,567"
    assert number(Decimal("1234.50")) == "1,234.50"
    assert number(-5000) == "-5,000"
    assert number(True) == "True" and number("12500") == "12500"  # only real numbers
    assert readable(12500.5) == "12,500.5"
    assert readable(False) == "No"


def test_submitted_amounts_read_grouped_on_the_task_page(people: People) -> None:
    task = make_task(
        form_schema={"type": "object", "properties": {"amount": {"type": "number"}}},
    )
    actions.complete_task(task=task, user=people.alice, form_data={"amount": 12500.5})
    html = text(client_for(people.alice).get(f"/tasks/{task.task_id}/"))
    assert "<dd>12,500.5</dd>" in html
