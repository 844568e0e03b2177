"""The project's ASGI app with the live broadcast receiver disconnected (bench/ingest.py).

Ingest then does everything but tell open pages: the difference to ``config.asgi`` is the
cost of ``live.broadcast.on_events_ingested``.
"""

from __future__ import annotations

from config.asgi import application
from workflows.ingest import events_ingested

events_ingested.disconnect(dispatch_uid="live.broadcast")
assert not events_ingested.receivers, "another receiver is connected"

__all__ = ["application"]
