"""Whether a database error means the database is away (restarting, unreachable, locked
past its timeout): the request may be sent again and will succeed, so it is answered 503
with Retry-After (config/outage.py, api.routes), not 500, and ingest's group commit does
not retry its members one by one against it (workflows/group_commit.py).

PostgreSQL's connection failures and dropped connections are ``OperationalError`` (psycopg
maps SQL mistakes to ``ProgrammingError`` and the like); a used-up connection is
``InterfaceError``. SQLite raises ``OperationalError`` for a missing table or column and
bad SQL as well, so there only its lock and file errors count: a missed migration or a bad
query stays a 500 with its traceback.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

_SQLITE_OUTAGE = ("database is locked", "database is busy", "unable to open database file")


def is_outage(exc: BaseException | None) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if type(cause).__module__ == "sqlite3":
        message = str(cause).lower()
        return any(words in message for words in _SQLITE_OUTAGE)
    return True
