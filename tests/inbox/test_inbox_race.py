"""Two people act on one task at the same moment: exactly one wins.

Each thread reads the task first, then both wait at a barrier and act together, so both
hold the same stale version when they try the conditional update. On PostgreSQL the loser
blocks on the winner's row lock and then finds the version moved on; on SQLite the write
lock taken at BEGIN IMMEDIATE serialises them with the same outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.support.inbox_world import make_people, make_task
from workflows import actions
from workflows.models import Event, HumanTask, OutboxCommand

# The refusal names the winner by full name (make_people's).
FULL_NAMES = {"alice": "Alice Martin", "bob": "Bob Chen"}

Action = Callable[[HumanTask, User], Any]


def complete(task: HumanTask, user: User) -> Any:
    return actions.complete_task(task=task, user=user, form_data=None, comment=user.username)


def claim(task: HumanTask, user: User) -> Any:
    return actions.claim_task(task=task, user=user)


def race(task_id: Any, users: list[User], actions: list[Action]) -> dict[str, Any]:
    """Run one action per user in its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(users), timeout=10)
    outcome: dict[str, Any] = {}

    def run(user: User, action: Action) -> None:
        from django.db import connection as thread_connection

        try:
            task = HumanTask.objects.select_related("assignee_group").get(task_id=task_id)
            barrier.wait()
            action(task, user)
            outcome[user.username] = "won"
        except Exception as exc:  # the loser's refusal is the point of the test
            outcome[user.username] = exc
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(users, actions, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return outcome


@pytest.fixture
def backend() -> str:
    if connection.vendor != "postgresql":
        pytest.skip(
            "this race needs PostgreSQL (DATABASE_URL=postgres://…); "
            "test_sqlite_file_database_race covers the embedded SQLite setup"
        )
    return connection.vendor


@pytest.mark.django_db(transaction=True)
def test_double_completion_one_wins_one_is_refused(backend: str) -> None:
    people = make_people()
    task = make_task(assignee="finance", title="Pay the supplier")

    outcome = race(task.task_id, [people.alice, people.bob], [complete, complete])

    winners = [name for name, r in outcome.items() if r == "won"]
    losers = {name: r for name, r in outcome.items() if r != "won"}
    assert len(winners) == 1, outcome
    ((_loser, refusal),) = losers.items()
    assert isinstance(refusal, actions.TaskConflict), repr(refusal)
    winner = winners[0]
    assert str(refusal).startswith(f"{FULL_NAMES[winner]} already completed this task at ")
    assert Event.objects.filter(type="HumanTaskCompleted", task_id=task.task_id).count() == 1
    assert OutboxCommand.objects.filter(kind="HumanTaskCompleted").count() == 1
    done = HumanTask.objects.get(pk=task.pk)
    assert (done.status, done.completed_by, done.comment) == ("completed", winner, winner)
    assert done.version == 1


@pytest.mark.django_db(transaction=True)
def test_complete_against_claim_one_wins(backend: str) -> None:
    people = make_people()
    task = make_task(assignee="finance", title="Contested")

    outcome = race(task.task_id, [people.alice, people.bob], [complete, claim])

    assert sorted(r == "won" for r in outcome.values()) == [False, True], outcome
    refusal = next(r for r in outcome.values() if r != "won")
    assert isinstance(refusal, actions.TaskConflict), repr(refusal)
    recorded = Event.objects.filter(
        task_id=task.task_id, type__in=["HumanTaskCompleted", "HumanTaskReassigned"]
    )
    assert recorded.count() == 1
    assert OutboxCommand.objects.count() == 1
    after = HumanTask.objects.get(pk=task.pk)
    if outcome["alice"] == "won":
        assert after.status == "completed" and "bob" not in after.assignee
        assert str(refusal).startswith("Alice Martin already completed this task")
    else:
        assert (after.status, after.assignee) == ("open", "user:bob")
        assert str(refusal).startswith("Bob Chen claimed this task")


# --- the embedded setup: SQLite in WAL mode, in a file ---------------------------------------
#
# pytest-django's SQLite test database lives in shared-cache memory, whose table locks fail at
# once ("database table is locked") instead of waiting, unlike the WAL file the app runs on.
# So the SQLite race runs in a child process against a real file database.


CHILD = (
    "import django; django.setup(); from tests.inbox.test_inbox_race import _sqlite_child as c; c()"
)


def test_sqlite_file_database_race(tmp_path: Path) -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the SQLite race runs only when the suite itself is on SQLite")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(report["outcome"].values()) == ["TaskConflict", "won"], report
    winner = next(name for name, r in report["outcome"].items() if r == "won")
    assert report["refusal"].startswith(f"{FULL_NAMES[winner]} already completed this task at ")
    assert report["completed_events"] == 1
    assert report["outbox"] == 1
    assert report["completed_by"] == winner


def _sqlite_child() -> None:
    """Run in a child process on a fresh SQLite file: migrate, race, print a JSON report."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from tests.support.inbox_world import make_people as people_of
    from tests.support.inbox_world import make_task as task_of

    people = people_of()
    task = task_of(assignee="finance", title="Pay the supplier")
    outcome = race(task.task_id, [people.alice, people.bob], [complete, complete])
    refusal = next((r for r in outcome.values() if r != "won"), None)
    done = HumanTask.objects.get(pk=task.pk)
    print(
        json.dumps(
            {
                "outcome": {k: v if v == "won" else type(v).__name__ for k, v in outcome.items()},
                "refusal": str(refusal),
                "completed_events": Event.objects.filter(type="HumanTaskCompleted").count(),
                "outbox": OutboxCommand.objects.count(),
                "completed_by": done.completed_by,
            }
        )
    )
