"""kill -9 of the server mid-stream, three times (issue 13, point 4), the short version of
``bench/faults/crash_ingest.py``: after the engine resends what had no answer, every event is
stored exactly once, no batch is half-stored, and ``rebuild_projections`` equals what ingest
built incrementally. On a PostgreSQL server of the test's own, and on SQLite."""

from __future__ import annotations

import pytest

from tests.faults.scenarios import load
from tests.support import pgcluster


@pytest.mark.parametrize(
    "database",
    [
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(
                not pgcluster.available(), reason="PostgreSQL's server binaries are not installed"
            ),
        ),
        "sqlite",
    ],
)
def test_kill_9_mid_ingest_loses_nothing_and_stores_nothing_twice(database: str) -> None:
    result = load("crash_ingest").run(database=database, workflows=150, kills=3)
    assert result.problems == []
    assert result.kills_mid_request >= 1  # the kills landed while batches were being written
    assert result.missing == 0 and result.duplicates == 0
    assert result.stored_events == result.events
    assert result.resent_batches == result.resent_found_committed + result.resent_found_absent
    assert result.rebuild_equals_incremental
