"""Django's SQLite backend with the query-planner upkeep sqlite.org recommends
(https://sqlite.org/lang_analyze.html#recommended_usage_pattern): connections now live for
CONN_MAX_AGE seconds, so each one runs

- on open, when connections are kept (CONN_MAX_AGE above 0: sqlite.org's advice is for
  long-lived ones), ``PRAGMA analysis_limit=400; PRAGMA optimize=0x10002`` (SQLite 3.46+: look at
  every table and analyse those whose statistics are missing or stale; earlier versions look
  only at tables this connection used, none yet, so it costs nothing there);
- before it closes (at CONN_MAX_AGE, on an error, or at the end of a request when
  CONN_MAX_AGE is 0), ``PRAGMA optimize``: analyse the tables this connection queried if
  their statistics would help, usually nothing.

``analysis_limit`` bounds each ANALYZE to ~400 rows per index, so neither holds a request.
A failure is logged and ignored: statistics are an optimisation, never a reason to fail.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from django.db.backends.sqlite3 import base

logger = logging.getLogger(__name__)

ON_OPEN = ("PRAGMA analysis_limit=400", "PRAGMA optimize=0x10002")
ON_CLOSE = "PRAGMA optimize"


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: Any) -> Any:
        conn = super().get_new_connection(conn_params)
        if not self.settings_dict.get("CONN_MAX_AGE"):
            return conn  # a connection per request: the close-time optimize is enough
        try:
            for pragma in ON_OPEN:
                conn.execute(pragma)
        except sqlite3.Error:
            logger.warning("PRAGMA optimize failed on a new connection", exc_info=True)
        return conn

    def _close(self) -> None:
        if self.connection is not None and not self.in_atomic_block:
            try:
                self.connection.execute(ON_CLOSE)
            except sqlite3.Error:
                logger.warning("PRAGMA optimize failed before closing", exc_info=True)
        super()._close()  # type: ignore[misc]  # django-stubs omits _close
