"""A person's settings page: time zone and email notifications, with defaults until saved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from workflows.models import Preferences
from workflows.preferences import preferences_for, save_preferences, valid_time_zone

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", email="alice@example.com", first_name="Alice")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_defaults_until_saved(alice: User) -> None:
    prefs = preferences_for(alice)
    assert prefs.pk is not None and prefs._state.adding  # not stored
    assert (prefs.time_zone, prefs.notify_assigned, prefs.notify_digest) == ("", False, False)
    body = client_for(alice).get("/settings/").content.decode()
    assert "Automatic (your browser&#x27;s)" in body
    assert "alice@example.com" in body
    assert not Preferences.objects.exists()


def test_saving_settings(alice: User) -> None:
    client = client_for(alice)
    response = client.post(
        "/settings/", {"time_zone": "Europe/Paris", "notify_assigned": "on"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/settings/"
    assert "Your settings are saved." in response.content.decode()
    prefs = Preferences.objects.get(user=alice)
    assert (prefs.time_zone, prefs.notify_assigned, prefs.notify_digest) == (
        "Europe/Paris",
        True,
        False,
    )
    body = client.get("/settings/").content.decode()
    assert '<option value="Europe/Paris" selected>' in body
    # Saving again updates the one row.
    client.post("/settings/", {"time_zone": "", "notify_digest": "on"})
    prefs.refresh_from_db()
    assert (prefs.time_zone, prefs.notify_assigned, prefs.notify_digest) == ("", False, True)
    assert Preferences.objects.count() == 1


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "x" * 500, "US/Eastern"])
def test_an_unknown_time_zone_is_refused_and_nothing_stored(alice: User, zone: str) -> None:
    response = client_for(alice).post("/settings/", {"time_zone": zone})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Preferences.objects.exists()
    assert not valid_time_zone(zone)
    with pytest.raises(Exception, match="Unknown time zone"):
        save_preferences(alice, time_zone=zone, notify_assigned=False, notify_digest=False)


def test_no_email_address_is_said(alice: User) -> None:
    alice.email = ""
    alice.save()
    body = client_for(alice).get("/settings/").content.decode()
    assert "no email address" in body


def test_the_header_links_to_settings(alice: User) -> None:
    body = client_for(alice).get("/").content.decode()
    assert 'href="/settings/"' in body


def test_signed_out_goes_to_sign_in() -> None:
    response = Client().get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
