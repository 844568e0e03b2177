"""Demo people and teams, shared by `seed_demo`, `simulate` and the screenshot script."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

# username, full name, teams, role group
DEMO_USERS = [
    ("alice", "Alice Martin", ["finance"], None),
    ("bob", "Bob Chen", ["finance", "legal"], None),
    ("carol", "Carol Diaz", ["hr"], None),
    ("dave", "Dave Okafor", ["it", "hr"], None),
    ("erin", "Erin Walsh", [], "Managers"),
    ("admin", "Ada Admin", [], "Admins"),
]
DEMO_TEAMS = ["finance", "legal", "hr", "it"]
DEMO_PASSWORD_SUFFIX = "-demo-2026"


def demo_password(username: str) -> str:
    return username + DEMO_PASSWORD_SUFFIX


def ensure_demo_users() -> list[tuple[str, str, str]]:
    """Create the demo users and teams if missing; return (username, password, role) rows."""
    User = get_user_model()
    teams = {name: Group.objects.get_or_create(name=name)[0] for name in DEMO_TEAMS}
    rows = []
    for username, full_name, team_names, role in DEMO_USERS:
        first, last = full_name.split(" ", 1)
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
        )
        if created:
            user.set_password(demo_password(username))
            user.is_staff = role == "Admins"
            user.is_superuser = False
            user.save()
        user.groups.add(*(teams[t] for t in team_names))
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        label = role or ("member of " + ", ".join(team_names))
        rows.append((username, demo_password(username), label))
    return rows
