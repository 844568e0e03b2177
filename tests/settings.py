import os
import tempfile

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]  # noqa: F405
# In-process tests keep Django's default, a connection per request (the servers the live and
# browser tests start run config.settings: persistent connections, as deployed).
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# SQLite: a test database in a file, as the embedded setup runs, rather than Django's
# shared-cache memory database, where a busy table fails at once ("database table is
# locked") instead of waiting out the busy timeout like a real deployment's file does.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"taskinbox-test-{os.getpid()}.sqlite3")
    }
# Several suites may run against one PostgreSQL server at once: give each its own test DB.
else:
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": "test_inbox"
        + (f"_{os.environ['TEST_DB_SUFFIX']}" if os.environ.get("TEST_DB_SUFFIX") else "")
    }
