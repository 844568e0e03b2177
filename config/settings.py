"""Settings, all read from the environment; defaults give the embedded single-process setup."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS

from config import env

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, minimum: int = 0) -> int:
    try:
        return env.env_int(os.environ, name, default, minimum)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def local_secret_key(path: Path) -> str:
    """The embedded setup's key: made once per checkout, kept beside it, never committed."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    try:
        temp = path.with_name(f"{path.name}.{os.getpid()}")
        temp.write_text(key)
        temp.chmod(0o600)
        try:
            os.link(temp, path)  # atomic: a process that loses the race reads the winner's
        finally:
            temp.unlink()
    except FileExistsError:
        return path.read_text().strip()
    except OSError:
        # A read-only checkout: sessions then last only as long as the process.
        return key
    return key


# Off unless asked for: debug pages show settings and code to whoever triggers an error.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or local_secret_key(BASE_DIR / ".secret_key")
ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    # The core first: it owns every model; the faces, the live layer and the demo use it.
    "workflows",
    "pages",
    "inbox",
    "workflows_ui",
    "savedviews",
    "live",
    "demo",
    "axes",
    "csp",
    "django_prometheus",
]

MIDDLEWARE = [
    # First: the request's id and its log line (config.logs), and django-prometheus' clock
    # around everything else.
    "config.logs.RequestLogMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The person's time zone (saved, else the browser's ``tz`` cookie) for every date shown.
    "pages.zones.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    # django-prometheus wants its "after" half last, django-axes its middleware: axes goes
    # inside, so the status counted is the lockout's 429 that axes puts in.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during sign-in into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inbox.context_processors.navigation",
                "savedviews.context_processors.saved_views",
            ],
        },
    },
]

_SQLITE_DEFAULT = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
# Persistent connections: HTTP runs through Django's WSGI handler in a pool of WEB_THREADS
# threads (config/asgi.py), each keeping its connection for CONN_MAX_AGE seconds (0: one per
# request, as before), checked before reuse after an error or an idle request
# (CONN_HEALTH_CHECKS). On SQLite a new connection per request cost a connect and, when it
# was the last one, a WAL checkpoint on close (bench/README.md, bench/serving.py).
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _SQLITE_DEFAULT),
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
# Threads serving HTTP in each server process (a2wsgi's pool); at most this many database
# connections per process, plus the websockets' (asgiref's) and the embedded worker's.
WEB_THREADS = env_int("WEB_THREADS", 10, minimum=1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's, plus PRAGMA optimize on open and before close (config/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "config.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets pages read while ingest writes; IMMEDIATE takes the write lock up front,
        # so two writers queue instead of failing on a stale snapshot.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis' layer on a bounded pool that closes idle connections, with
            # connections that keep a cancellation (live/redis_layer.py, bench/README.md).
            "BACKEND": "live.redis_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # Connections per process and event loop: a command that finds
                        # them all busy waits (up to "timeout" s) instead of opening more;
                        # a storm of 1,000 sockets closing at once queues its group
                        # discards on them. Idle ones beyond "min_idle" close after
                        # "idle_timeout" s.
                        "max_connections": env_int("REDIS_LAYER_CONNECTIONS", 50, minimum=2),
                        "timeout": 20,
                        "idle_timeout": env_int("REDIS_LAYER_IDLE_SECONDS", 30, minimum=1),
                        "min_idle": 2,
                        # redis-py 8 made socket_timeout default to 5 s. channels-redis
                        # receives with a blocking BZPOPMIN of 5 s (brpop_timeout), so the
                        # read timed out as the reply arrived and the consumer died
                        # ("Timeout reading from ...", channels_redis#422, redis-py#4091).
                        # Well above the BZPOPMIN, still a bound when Redis goes away.
                        "socket_timeout": 15,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                        # Each process's connections by name in Redis's CLIENT LIST.
                        "client_name": f"taskinbox-{os.getpid()}",
                    }
                ],
                # Several deployments (or test runs) may share one Redis.
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes). Every authenticate() must pass the request: the axes
# backend refuses one without it. After AXES_FAILURE_LIMIT failures for one username, or
# from one address, each counted until AXES_COOLOFF_MINUTES pass without a new failure,
# sign-in is refused (even with the right password) for AXES_COOLOFF_MINUTES from the
# failure that locked it: tries during the lockout are refused without renewing it.
# `manage.py axes_reset` (or axes_reset_username / axes_reset_ip, or the admin's "Access
# attempts") unlocks. Both login pages, ours and the admin's, are covered.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# A list of single parameters: each is counted on its own, so this locks a username (from
# any address) or an address (for any username), whichever reaches the limit first.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Not AXES_RESET_ON_SUCCESS: with the parameters above a success deletes the attempts that
# match its username *or its address*, so signing in to one's own account from an address
# would wipe the count against every username tried from there.
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default):
# the header is ignored and the TCP peer's address counts, since anyone can send the header.
PROXY_COUNT = env_int("DJANGO_PROXY_COUNT", 0)

# HTTPS, for a deployment behind a TLS-terminating proxy that sets X-Forwarded-Proto (and
# strips one sent by the client). Off by default: the embedded setup is http://127.0.0.1.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Probes and the scraper talk to the server directly, over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    # Both on by default, as `check --deploy` asks (W005, W021). The preload directive only
    # says the site consents to the browsers' preload list; it is on that list only when
    # its owner submits the domain there (hstspreload.org). includeSubDomains commits every
    # subdomain to HTTPS: DJANGO_HSTS_INCLUDE_SUBDOMAINS=false where one still serves HTTP.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)

# Content-Security-Policy (django-csp 4): no inline script, style or eval anywhere; htmx is
# told not to eval (the htmx-config meta tag in _base.html). connect-src also names the
# page's own ws:/wss: origin (config.security.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "start"  # by role: inbox.views.start
LOGOUT_REDIRECT_URL = "login"

# POST /api/events refuses bodies over this size with 413.
INGEST_MAX_BODY_BYTES = int(os.environ.get("INGEST_MAX_BODY_BYTES", 1024 * 1024))
# Concurrent POST /api/events requests of one process share a transaction (group commit,
# workflows/group_commit.py); off, each request ingests alone.
INGEST_GROUP_COMMIT = env_bool("INGEST_GROUP_COMMIT", True)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES, 2_621_440)

# The outbox: how people's actions reach the engine (docs/engines.md, section 2).
# OUTBOX_BACKEND: "webhook" (POST to OUTBOX_WEBHOOK_URL, signed with OUTBOX_WEBHOOK_SECRET),
# "callable" (OUTBOX_CALLABLE, a dotted path to f(body: dict) -> None that raises on failure)
# or "none" (commands are recorded only). The default follows what is configured.
OUTBOX_WEBHOOK_URL = os.environ.get("OUTBOX_WEBHOOK_URL", "")
OUTBOX_WEBHOOK_SECRET = os.environ.get("OUTBOX_WEBHOOK_SECRET", "")
OUTBOX_CALLABLE = os.environ.get("OUTBOX_CALLABLE", "")
OUTBOX_BACKEND = os.environ.get("OUTBOX_BACKEND", "").strip().lower() or (
    "webhook" if OUTBOX_WEBHOOK_URL else "callable" if OUTBOX_CALLABLE else "none"
)
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", 10))
OUTBOX_BACKOFF_BASE = float(os.environ.get("OUTBOX_BACKOFF_BASE", 2))
OUTBOX_BACKOFF_MAX = float(os.environ.get("OUTBOX_BACKOFF_MAX", 600))
OUTBOX_TIMEOUT = float(os.environ.get("OUTBOX_TIMEOUT", 5))
# Deliver from inside the server process (`make serve` sets it), so the embedded setup needs
# no `deliver_outbox` (nor `send_notifications`) beside it: outbox commands, emails, digests.
OUTBOX_EMBEDDED_WORKER = os.environ.get("OUTBOX_EMBEDDED_WORKER", "") == "1"

# Email (workflows.notifications): Django's email framework. The embedded default prints
# emails on the console; a deployment names its backend (e.g.
# django.core.mail.backends.smtp.EmailBackend) and its server.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Task inbox <noreply@localhost>")
# The base of the links in emails (no trailing slash needed).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# An email that fails is tried again with backoff, then marked failed after this many tries.
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
# The daily digest goes out once the person's local hour (their Settings time zone, else
# TIME_ZONE) reaches DIGEST_HOUR; the worker looks every DIGEST_CHECK_SECONDS.
DIGEST_HOUR = env_int("DIGEST_HOUR", 8)
if DIGEST_HOUR > 23:
    raise ImproperlyConfigured(f"DIGEST_HOUR must be an hour from 0 to 23, not {DIGEST_HOUR}")
DIGEST_CHECK_SECONDS = env_int("DIGEST_CHECK_SECONDS", 60, minimum=1)

# Logs: LOG_FORMAT=json gives one JSON object a line (python-json-logger) for every record,
# with one line per request (config.logs.RequestLogMiddleware, replacing uvicorn's access
# log) and per ingest batch; "text" (the default) is the plain format.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower() or "text"
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logs.RequestIdFilter"},
        # A database outage: one line per failure, not a traceback (config/outage.py).
        "outage": {"()": "config.outage.BriefOutageFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
            # uvicorn's copy of its message with terminal colours: noise in a log store.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "outage"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
if LOG_FORMAT == "json":
    logging.captureWarnings(True)  # Python's warnings as log records, so JSON lines too
    LOGGING["loggers"] = {
        # uvicorn's own lines (startup, websockets) in JSON too; its access log is replaced.
        "uvicorn": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    }

# Seconds a 503 asks a client to wait when the database is away (config/outage.py): about
# a database restart's length.
RETRY_AFTER_SECONDS = env_int("RETRY_AFTER_SECONDS", 5, minimum=1)

# /metrics (config.metrics): readable from these addresses or networks (comma-separated;
# empty: none), or with "Authorization: Bearer <METRICS_TOKEN>" when that is set.
_allowed = os.environ.get("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_ALLOWED_IPS = [a.strip() for a in _allowed.split(",") if a.strip()]
for _address in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_address, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_IPS: {_address!r} is not an address or network"
        ) from None
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# Live sockets (docs/architecture.md, "Live updates"): how often an open socket re-checks
# that its session still signs its user in (expiry, deletion from the session store).
LIVE_SESSION_CHECK_SECONDS = float(os.environ.get("LIVE_SESSION_CHECK_SECONDS", 60))
