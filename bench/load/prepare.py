"""Prepare a migrated database for the load test (run by ``run.py``; on its own:)

    DATABASE_URL=sqlite:////tmp/load.sqlite3 .venv/bin/python bench/load/prepare.py \
        --people 200 --backlog 1000

- the demo people and teams (``demo.users.ensure_demo_users``: the simulator's manager and
  admin, and the four teams);
- ``--people`` load people, ``p001`` ... (``population.username``), each in one demo team,
  all with the password ``population.PASSWORD`` (hashed once: hashing 200 passwords with
  Django's PBKDF2 would take minutes; each person still signs in through the login page);
- an ingest token for the engine (``population.TOKEN_NAME``);
- a backlog: ``demo.simulation.generate(workflows=--backlog)`` laid out over the last four
  days, handed to the load people (``population.Caster``) and ingested, so My tasks and
  Team queues have work from the first second.

Prints one JSON line: the token, backlog events, open tasks per kind of assignee.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import population  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--backlog", type=int, default=1000, help="workflows laid out before")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.people < len(population.TEAMS):
        parser.error(f"--people must be at least {len(population.TEAMS)}")
    if args.backlog < 0:
        parser.error("--backlog must be 0 or more")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import transaction

    from demo.simulation import generate
    from demo.users import ensure_demo_users
    from workflows.ingest import ingest_events
    from workflows.models import HumanTask, IngestToken

    ensure_demo_users()
    teams = {name: Group.objects.get(name=name) for name in population.TEAMS}
    password = make_password(population.PASSWORD)
    names = [population.username(i) for i in range(args.people)]
    with transaction.atomic():
        if User.objects.filter(username__in=names).exists():
            sys.exit("prepare: the load people exist already; use a fresh database")
        User.objects.bulk_create(
            User(
                username=name,
                first_name="Load",
                last_name=name,
                email=f"{name}@example.com",
                password=password,
            )
            for name in names
        )
        ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
        Membership = User.groups.through
        Membership.objects.bulk_create(
            Membership(
                user_id=ids[population.username(i)], group_id=teams[population.team_of(i)].pk
            )
            for i in range(args.people)
        )
    _, token = IngestToken.issue(population.TOKEN_NAME)

    events = 0
    if args.backlog:
        caster = population.Caster(args.people)
        batch = generate(workflows=args.backlog, seed=args.seed, now=datetime.now(UTC))
        cast = [caster.cast(e) for e in batch.events]
        for start in range(0, len(cast), 500):
            ingest_events(events=cast[start : start + 500], source="cli:load-backlog")
        events = len(cast)
    open_tasks = HumanTask.objects.filter(status=HumanTask.Status.OPEN)
    print(
        json.dumps(
            {
                "token": token,
                "people": args.people,
                "backlog_events": events,
                "open_tasks": open_tasks.count(),
                "open_for_people": open_tasks.filter(assignee_user__username__in=names).count(),
                "open_in_team_queues": open_tasks.filter(
                    assignee_user__isnull=True, assignee_group__name__in=population.TEAMS
                ).count(),
            }
        )
    )


if __name__ == "__main__":
    main()
