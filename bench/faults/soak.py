"""The soak: a bounded long run of the load test against the production topology, judged on
whether memory, descriptors and connections stay flat, with zero errors and every event
projected.

    .venv/bin/python bench/faults/soak.py                          # 30 minutes
    .venv/bin/python bench/faults/soak.py --duration 300 --people 20 --rate 10

It is ``bench/load/run.py --topology prod --sample 30`` with a soak's defaults: PostgreSQL +
Redis with two server processes and the outbox worker (``python -m config.serve``), people
at browsers through Locust (each page opens its own live socket and closes it on leaving:
socket churn all along), an engine streaming the simulator's events. The report's
``resources`` section has every sample and, per resource, the first-third and last-third
means after the warm-up, the peak, the growth and whether it stayed flat (under 10 %, or a
small absolute slack: bench/load/resources.py). Exit status 0 only when every request
succeeded, every event sent was stored and projected, and every resource stayed flat.
Any other ``run.py`` option passes through (``--people``, ``--rate``, ``--think``, ...).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "load" / "run.py"
DEFAULTS = {
    "--topology": "prod",
    "--duration": "1800",
    "--sample": "30",
    "--people": "50",
    "--rate": "25",
    "--think": "2,6",
}


def command(argv: list[str]) -> list[str]:
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    extra = [x for k, v in DEFAULTS.items() if k not in given for x in (k, v)]
    return [sys.executable, str(RUN), *extra, *argv]


if __name__ == "__main__":
    args = command(sys.argv[1:])
    os.execv(args[0], args)
