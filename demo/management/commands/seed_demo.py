from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from demo.users import ensure_demo_users


class Command(BaseCommand):
    help = "Create the demo users and teams (idempotent) and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = ensure_demo_users()
        self.stdout.write("Demo sign-ins (username / password):")
        for username, password, label in rows:
            self.stdout.write(f"  {username:<8} {password:<20} {label}")
