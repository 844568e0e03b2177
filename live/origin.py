"""The live socket's Origin check: only the site's own origin, and the trusted ones.

A websocket is not covered by the same-origin policy or by CSRF protection: a page on any
origin may open one, and the browser sends the session cookie with it. The Origin header
is what tells them apart. Channels' ``AllowedHostsOriginValidator`` compares hosts only, so
``http://127.0.0.1:9999`` or ``https://127.0.0.1`` passed for a site at
``http://127.0.0.1:8000``. Here the Origin must be exactly the site's own origin:

- ``<scheme>://<Host header>``, where the scheme is ``https`` when the connection is TLS
  (``wss``) or when ``SECURE_PROXY_SSL_HEADER`` says the proxy received it over TLS, else
  ``http`` (a default port, 80 or 443, may be given or left out on either side);
- or one of ``CSRF_TRUSTED_ORIGINS`` (``DJANGO_CSRF_TRUSTED_ORIGINS``), compared as Django's
  CSRF check does (exactly, or ``https://*.example.com`` for subdomains);

and the Host header itself must be one of ``ALLOWED_HOSTS``. A socket without an Origin
header, with ``null``, or without a Host header is refused: browsers always send Origin on
websockets, and a client that leaves it out is not a page of this site.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": "80", "https": "443"}
# A serialized origin (RFC 6454): scheme://host[:port], nothing else.
ORIGIN_RE = re.compile(r"^(https?)://([a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?$")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                return str(value.decode("latin1"))
            except (AttributeError, UnicodeDecodeError):
                return None
    return None


def _allowed_hosts() -> list[str]:
    hosts = list(getattr(settings, "ALLOWED_HOSTS", []))
    if getattr(settings, "DEBUG", False) and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's own Host check does
    return hosts


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        meta_name, expected = proxy
        # Django's META name (HTTP_X_FORWARDED_PROTO) as an ASGI header (x-forwarded-proto).
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == expected
    return False


def _normalise(origin: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of a well-formed origin, the port made explicit; else None."""
    match = ORIGIN_RE.match(origin.lower())
    if match is None:
        return None
    scheme, host, port = match.groups()
    return scheme, host, port or DEFAULT_PORTS[scheme]


def _trusted(origin: str) -> bool:
    trusted = getattr(settings, "CSRF_TRUSTED_ORIGINS", [])
    own = _normalise(origin)
    if own is None:
        return False
    for pattern in trusted:
        if "*" in pattern:  # as django.middleware.csrf: https://*.example.com
            parts = urlsplit(pattern.lower())
            netloc = f"{own[1]}:{own[2]}" if ":" in parts.netloc else own[1]
            if parts.scheme == own[0] and is_same_domain(netloc, parts.netloc.lstrip("*")):
                return True
        elif _normalise(pattern.lower()) == own:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Whether this websocket's Origin is the site's own (or a trusted one) and its Host is
    an allowed host."""
    host = _header(scope, b"host")
    origin = _header(scope, b"origin")
    if not host or not origin:
        return False
    host = host.strip().lower()
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return False
    origin = origin.strip().lower()
    if _trusted(origin):
        return True
    scheme = "https" if _is_secure(scope) else "http"
    own = _normalise(f"{scheme}://{host}")
    return own is not None and _normalise(origin) == own


class SameOriginValidator:
    """ASGI middleware for the websocket router: refuses the handshake (403) unless
    ``origin_allowed``."""

    def __init__(self, application: Any):
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator is for websocket connections only")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
