"""Who takes part in the load test, shared by ``prepare.py`` (run by ``run.py``) and the
locustfile: the load people, their teams, and how the simulator's events are handed to them.

The simulator (``demo.simulation``) writes workflows for the four demo people (alice, bob,
carol, dave) and the four demo teams. The load test has many more people: ``p001`` ... each
in one demo team, round robin. Every demo person named in an instance's events is replaced
by one load person of that person's team, chosen from the instance id, so one workflow keeps
its cast (the same person is asked, reassigned to and completes) while the workflows spread
over everyone. Team assignees (``finance``, ``group:finance``), the manager, the admin and the
unknown assignees are left as they are.

Plain Python, no Django: the locustfile imports it too.
"""

from __future__ import annotations

import hashlib
from typing import Any

TEAMS = ("finance", "legal", "hr", "it")
# The team a demo person's tasks go to (bob is in finance and legal; legal has only him).
DEMO_PERSON_TEAM = {"alice": "finance", "bob": "legal", "carol": "hr", "dave": "it"}
# Every field of the event contract that names a person (workflows/events.py).
PERSON_FIELDS = (
    "assignee",
    "from_assignee",
    "to_assignee",
    "reassigned_by",
    "completed_by",
    "canceled_by",
    "resumed_by",
    "user_id",
)
PASSWORD = "load-people-2026"
TOKEN_NAME = "load-engine"


def username(index: int) -> str:
    """The ``index``-th load person (0-based): p001, p002, ..."""
    return f"p{index + 1:03d}"


def team_of(index: int) -> str:
    return TEAMS[index % len(TEAMS)]


def members(people: int, team: str) -> list[str]:
    return [username(i) for i in range(people) if team_of(i) == team]


class Caster:
    """Hands the simulator's events to ``people`` load people (see the module docstring)."""

    def __init__(self, people: int) -> None:
        if people < len(TEAMS):
            raise ValueError(f"at least {len(TEAMS)} people are needed (one per team)")
        self.by_team = {team: members(people, team) for team in TEAMS}

    def person(self, instance_id: str, demo_name: str) -> str:
        team = self.by_team[DEMO_PERSON_TEAM[demo_name]]
        digest = hashlib.blake2b(f"{instance_id}/{demo_name}".encode(), digest_size=8).digest()
        return team[int.from_bytes(digest, "big") % len(team)]

    def cast(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with its demo people replaced (a new dict; the input is left alone)."""
        out = dict(event)
        instance_id = str(event.get("instance_id", ""))
        for key in PERSON_FIELDS:
            value = out.get(key)
            if not isinstance(value, str):
                continue
            prefix, _, name = (
                value.rpartition(":") if value.startswith("user:") else ("", "", value)
            )
            if name in DEMO_PERSON_TEAM:
                mapped = self.person(instance_id, name)
                out[key] = f"{prefix}:{mapped}" if prefix else mapped
        return out
