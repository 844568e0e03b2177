"""``create_ingest_token NAME``: issue a bearer token for ``POST /api/events``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.models import IngestToken


class Command(BaseCommand):
    help = "Create an ingest token and print it once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name for the engine or tool that will use it.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name:
            raise CommandError("the token name must not be empty")
        if IngestToken.objects.filter(name=name).exists():
            raise CommandError(
                f"a token named {name!r} already exists; choose another name "
                "(tokens are shown only once and cannot be printed again)"
            )
        token, raw = IngestToken.issue(name)
        # The explanation goes to stderr so `$(manage.py create_ingest_token x)` is the token.
        self.stderr.write(
            f"Created token {token.name!r}. Copy it now: it is shown only once.\n"
            f"Use it as: Authorization: Bearer <token>"
        )
        self.stdout.write(raw)
