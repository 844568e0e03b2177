"""The load test (bench/load/): its smoke run end to end, and how it casts the simulator's
events to the load people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demo.simulation import generate
from tests.support.server import ROOT

sys.path.insert(0, str(ROOT / "bench" / "load"))
import population


def test_the_caster_keeps_each_workflows_cast_and_leaves_teams_alone() -> None:
    caster = population.Caster(40)
    originals = generate(workflows=60, seed=7).events
    cast: dict[tuple[str, str], str] = {}  # (instance, demo person) -> load person
    teams_kept = 0
    for original in originals:
        copy = dict(original)
        event = caster.cast(original)
        assert original == copy  # the input is left alone
        for key in population.PERSON_FIELDS:
            before, after = original.get(key), event.get(key)
            if not isinstance(before, str):
                assert after == before
                continue
            name = before.split(":", 1)[-1]
            team = population.DEMO_PERSON_TEAM.get(name)
            if team is None:
                assert after == before  # teams, the manager, unknown assignees: as sent
                teams_kept += name in population.TEAMS
                continue
            prefix = "user:" if before.startswith("user:") else ""
            assert after.startswith(prefix)
            person = after.removeprefix(prefix)
            assert person in population.members(40, team), (before, after)
            assert cast.setdefault((event["instance_id"], name), person) == person
    assert len(cast) > 20 and teams_kept > 0
    assert len(set(cast.values())) > 10  # the work spreads over the people
    with pytest.raises(ValueError):
        population.Caster(3)


@pytest.mark.slow
def test_the_load_tests_smoke_run_serves_everyone_without_errors(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "REDIS_", "DATABASE_", "OUTBOX_"))
    }
    done = subprocess.run(
        [sys.executable, "bench/load/run.py", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["failures"] == 0
    assert report["people_signed_in"] == 8
    assert report["measured_s"] >= 9
    pages = report["pages"]
    for page in ("My tasks", "Team queues", "task page", "POST /api/events"):
        assert pages[page]["requests"] > 0, page
    actions = sum(pages.get(p, {}).get("requests", 0) for p in population_actions())
    assert actions > 0
    events = report["events"]
    assert events["all_projected"]
    assert events["sent"] == events["stored"] == events["engine"]["accepted"] > 0
    assert report["engine_events_per_s"] > 10  # 20 asked for
    assert report["live_delay"]["ingest"]["n"] > 0
    assert report["sockets"]["live socket: connect"]["failures"] == 0


def population_actions() -> tuple[str, ...]:
    return ("POST complete", "POST claim", "POST reassign")
