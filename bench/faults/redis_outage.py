"""Faults and churn, item 2: Redis stopped for a while under load. Two servers, sockets
open on both; Redis (our own redis-server on a spare port of 127.0.0.1, never the
machine's) is stopped while events are posted, pages loaded and tasks claimed through the
task page's form, on both servers in turn; then started again, empty. Every request must
succeed; every socket must close (1013, "try again later": the page says "Reconnecting…"),
reconnect when Redis is back, and re-sync to counts that include everything done meanwhile.
Broadcasts that could not reach Redis are counted (taskinbox_live_broadcast_failures_total).

    .venv/bin/python bench/faults/redis_outage.py                 # 30 s down, 200 sockets
    .venv/bin/python bench/faults/redis_outage.py --down 5 --sockets 20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support import faults


async def main(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory() as tmp,
        faults.site(Path(tmp), users=args.sockets) as s,
    ):
        report = await faults.redis_outage(s, args.sockets, args.down)
        heard = await faults.hear_broadcast(s, n=min(10, args.sockets))
        logs = s.stop_servers()
    result = {**dataclasses.asdict(report), "heard_after": heard}
    print(json.dumps(result))
    ok = (
        report.ingest_failed == 0
        and report.pages_failed == 0
        and report.actions_failed == 0
        and report.reconnected == args.sockets
        and report.missed == 0
        and report.broadcast_failures > 0
        and heard == min(10, args.sockets)
        and not any("Cancel" in log for log in logs)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--down", type=float, default=30.0, help="seconds Redis is stopped")
    parser.add_argument("--sockets", type=int, default=200)
    sys.exit(asyncio.run(main(parser.parse_args())))
