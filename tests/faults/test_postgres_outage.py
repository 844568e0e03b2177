"""PostgreSQL stopped under load and started again (issue 13, point 3), the short version of
``bench/faults/postgres_outage.py`` on a PostgreSQL server of the test's own: while it is
down the engine gets 503 with Retry-After, pages the styled 503, ``/readyz`` 503; after, all
comes back by itself and nothing is lost or stored twice."""

from __future__ import annotations

import pytest

from tests.faults.scenarios import load
from tests.support import pgcluster

pytestmark = pytest.mark.skipif(
    not pgcluster.available(), reason="PostgreSQL's server binaries are not installed"
)


@pytest.mark.parametrize("crash", [False, True], ids=["clean-restart", "crash"])
def test_postgres_down_then_back_loses_nothing_and_recovers_by_itself(crash: bool) -> None:
    result = load("postgres_outage").run(down=3.0, before=2.0, after=6.0, rate=5.0, crash=crash)
    assert result.problems == []
    assert result.engine["by_phase"]["down"].get("503", 0) > 0
    assert set(result.engine["by_phase"]["down"]) <= {"503"}
    assert set(result.page["by_phase"]["down"]) <= {"503"}
    assert result.styled_503_page
    assert result.readyz_while_down == 503
    assert result.stored["events"] == result.sent_events
    assert result.stored["duplicates"] == 0
    assert result.socket_saw_task_after_restart
    assert result.command_after_restart_delivered
    # Back within a few seconds of the database, with no restart of ours.
    assert result.engine["first_ok_after_restart_s"] < 5
    assert result.page["first_ok_after_restart_s"] < 5
