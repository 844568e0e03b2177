"""``revoke_ingest_token NAME``: the token is refused (401) from the next request on."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.models import IngestToken


class Command(BaseCommand):
    help = "Revoke an ingest token by name: every further request with it gets 401."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The token's name, as given to create_ingest_token.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        token = IngestToken.objects.filter(name=name.strip()).first()
        if token is None:
            known = ", ".join(IngestToken.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(f"no token named {name!r} (tokens: {known or 'none'})")
        if token.revoked:
            self.stderr.write(f"Token {token.name!r} was already revoked.")
            return
        IngestToken.objects.filter(pk=token.pk).update(revoked=True)
        self.stderr.write(f"Revoked token {token.name!r}: further requests with it get 401.")
