"""Is a live socket's session still signing its user in?

A socket is authenticated once, at its handshake, by the session cookie. The session can
end while the socket stays open: the person signs out (``user_logged_out``), their password
changes (the session's auth hash no longer matches), the session expires, or it is deleted
from the store (``clearsessions``, an admin). The first two are announced to the user's
sockets at once (``live.broadcast``); the consumer checks the rest with ``valid_until``
before it sends anything and on a timer (``LIVE_SESSION_CHECK_SECONDS``).

The check reads the session and the user the way ``django.contrib.auth.get_user`` does,
without its side effects: it never flushes or cycles a session (that is for the browser's
next request to do).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils import timezone
from django.utils.crypto import constant_time_compare

# The close code of a socket whose session ended. 4000-4999 are the application's own
# (RFC 6455, 7.4.2); htmx's ws extension reconnects only on 1006, 1011, 1012 and 1013, so
# the page stays closed and static/js/live.js says "You have been signed out".
SESSION_ENDED = 4401


def check_seconds() -> float:
    return float(getattr(settings, "LIVE_SESSION_CHECK_SECONDS", 60))


def fingerprint(session_key: str | None) -> str:
    """What the channel layer carries instead of the session key itself (a credential)."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()


def _hash_matches(user: Any, stored: Any) -> bool:
    if not stored or not hasattr(user, "get_session_auth_hash"):
        return False
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    # Sessions made before a SECRET_KEY rotation still sign in (SECRET_KEY_FALLBACKS).
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
    return fallbacks is not None and any(constant_time_compare(stored, h) for h in fallbacks())


def valid_until(session_key: str | None, user_id: Any) -> datetime | None:
    """When this session stops signing this user in, if it still does now; None if it does
    not (missing, expired, another user, an inactive user, or a changed password).

    The time is the stored expiry where the session store keeps one (the database
    backends); otherwise the caller re-checks on its timer.
    """
    if not session_key:
        return None
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore(session_key)
    data = store.load()  # {} when missing or expired, for every backend
    if str(data.get(SESSION_KEY, "")) != str(user_id):
        return None
    backend_path = data.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)  # None for an inactive user
    if user is None or not _hash_matches(user, data.get(HASH_SESSION_KEY)):
        return None
    get_model_class = getattr(store, "get_model_class", None)
    if get_model_class is None:  # a cache or file store: its expiry is not ours to read
        return timezone.now() + timedelta(seconds=check_seconds())
    expires = (
        get_model_class()
        .objects.filter(session_key=session_key)
        .values_list("expire_date", flat=True)
        .first()
    )
    return expires if expires is not None and expires > timezone.now() else None
