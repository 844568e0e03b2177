"""``create_ingest_token NAME [--scope SCOPE ...]``: issue a bearer token for the API."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.models import ALL_TOKEN_SCOPES, DEFAULT_TOKEN_SCOPES, IngestToken


class Command(BaseCommand):
    help = (
        "Create an ingest token and print it once; only its hash is stored. Scopes: "
        "events:write (POST /api/events) and read (GET every task and instance). A new token "
        f"gets {' '.join(DEFAULT_TOKEN_SCOPES)} only unless --scope says otherwise: an "
        "engine's token must not read every task. Tokens that existed before scopes were "
        "introduced kept both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name for the engine or tool that will use it.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=ALL_TOKEN_SCOPES,
            metavar="SCOPE",
            help=(
                f"One of {', '.join(ALL_TOKEN_SCOPES)}; repeat for several "
                f"(default: {' '.join(DEFAULT_TOKEN_SCOPES)})."
            ),
        )

    def handle(self, *args: Any, name: str, scopes: list[str] | None, **options: Any) -> None:
        name = name.strip()
        if not name:
            raise CommandError("the token name must not be empty")
        if IngestToken.objects.filter(name=name).exists():
            raise CommandError(
                f"a token named {name!r} already exists; choose another name "
                "(tokens are shown only once and cannot be printed again)"
            )
        token, raw = IngestToken.issue(name, scopes=scopes or DEFAULT_TOKEN_SCOPES)
        # The explanation goes to stderr so `$(manage.py create_ingest_token x)` is the token.
        self.stderr.write(
            f"Created token {token.name!r} with scopes {' '.join(token.scopes)}. "
            "Copy it now: it is shown only once.\n"
            f"Use it as: Authorization: Bearer <token>"
        )
        self.stdout.write(raw)
