"""The live socket accepts exactly the site's own origin (scheme, host and port of the
Host header) and the trusted origins; live/origin.py."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from config.asgi import application
from live.origin import origin_allowed

SITE = "127.0.0.1:8000"


def scope(origin: str | None, host: str | None = SITE, **extra: Any) -> dict[str, Any]:
    headers = [(b"host", host.encode())] if host is not None else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(k.encode(), v.encode()) for k, v in extra.pop("headers", {}).items()]
    return {"type": "websocket", "scheme": "ws", "headers": headers, **extra}


@pytest.mark.parametrize("origin", ["http://127.0.0.1:8000", "HTTP://127.0.0.1:8000"])
def test_the_sites_own_origin_is_accepted(origin: str) -> None:
    assert origin_allowed(scope(origin))


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port
        "http://127.0.0.1",  # no port: 80
        "https://127.0.0.1:8000",  # another scheme
        "https://127.0.0.1",
        "http://localhost:8000",  # another host, even an allowed one
        "http://evil.example",
        "null",
        "",
        "http://127.0.0.1:8000.evil.com",
        "http://evil.com/127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "http://user@127.0.0.1:8000",
        "ws://127.0.0.1:8000",
    ],
)
def test_any_other_origin_is_refused(origin: str) -> None:
    assert not origin_allowed(scope(origin))


def test_a_missing_origin_or_host_is_refused() -> None:
    assert not origin_allowed(scope(None))
    assert not origin_allowed(scope("http://127.0.0.1:8000", host=None))


def test_the_host_must_be_an_allowed_host(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    assert not origin_allowed(scope("http://evil.example", host="evil.example"))
    assert origin_allowed(scope("http://127.0.0.1", host="127.0.0.1"))


def test_a_default_port_may_be_left_out_on_either_side() -> None:
    assert origin_allowed(scope("http://127.0.0.1", host="127.0.0.1:80"))
    assert origin_allowed(scope("http://127.0.0.1:80", host="127.0.0.1"))


def test_tls_or_the_proxy_header_make_it_https(settings: Any) -> None:
    assert origin_allowed(scope("https://127.0.0.1", host="127.0.0.1", scheme="wss"))
    assert not origin_allowed(scope("http://127.0.0.1", host="127.0.0.1", scheme="wss"))
    proxied = {"headers": {"x-forwarded-proto": "https"}}
    assert not origin_allowed(scope("https://127.0.0.1", host="127.0.0.1", **proxied))
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert origin_allowed(scope("https://127.0.0.1", host="127.0.0.1", **proxied))
    assert not origin_allowed(scope("http://127.0.0.1", host="127.0.0.1", **proxied))


def test_trusted_origins_are_accepted(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://inbox.example.com", "https://*.corp.example"]
    assert origin_allowed(scope("https://inbox.example.com"))
    assert origin_allowed(scope("https://inbox.example.com:443"))
    assert origin_allowed(scope("https://app.corp.example"))
    assert not origin_allowed(scope("http://inbox.example.com"))
    assert not origin_allowed(scope("https://inbox.example.com:8443"))
    assert not origin_allowed(scope("https://corp.example.evil"))
    assert not origin_allowed(scope("https://inbox.example.com.evil.com"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "accepted"),
    [("http://127.0.0.1:8000", True), ("http://127.0.0.1:9999", False), ("null", False)],
)
async def test_the_handshake_follows_the_check(origin: str, accepted: bool) -> None:
    from channels.db import database_sync_to_async

    @database_sync_to_async
    def cookie() -> bytes:
        client = Client()
        client.force_login(User.objects.create_user("alice", password="pw"))
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"host", SITE.encode()), (b"origin", origin.encode()), (b"cookie", await cookie())]
    comm = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await comm.connect()
    assert connected is accepted
    if connected:
        await comm.disconnect()
