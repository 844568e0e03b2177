"""Faults and churn, item 2, short: Redis (our own redis-server) stopped for a few seconds
under load on two uvicorn servers. Ingest, pages and a claim keep working; broadcasts that
cannot reach Redis are counted, never raised; every socket closes with 1013 (the page shows
"Reconnecting…"), a reconnect meanwhile is refused at the handshake (so htmx backs off),
and once Redis is back each reconnects and its re-sync counts everything done meanwhile.
bench/faults/redis_outage.py is the full size (30 s, 200 sockets)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.support import faults

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")

SOCKETS = 20


def test_a_redis_outage_loses_nothing(tmp_path: Path) -> None:
    with faults.site(tmp_path, users=SOCKETS) as s:
        report = asyncio.run(asyncio.wait_for(faults.redis_outage(s, SOCKETS, down=4), 120))
        assert report.created_while_down >= 5
        assert report.ingest_failed == 0
        assert report.pages_failed == 0
        assert report.actions_ok >= 1
        assert report.actions_failed == 0
        assert report.closed_codes == {1013: SOCKETS}
        assert report.refused_status == 403  # a reconnect meanwhile: refused, backs off
        assert report.broadcast_failures > 0
        assert report.reconnected == SOCKETS
        assert report.missed == 0
        assert asyncio.run(faults.hear_broadcast(s)) == 10
        said = s.stop_servers()
        assert not any("Cancel" in out for out in said), said
