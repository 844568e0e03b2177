from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """The core: every model, the event contract, ingest, the fold, people's actions."""

    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from django.conf import settings
        from django.db import connections

        from workflows import fastsql, receivers

        for alias in connections:
            fastsql.check_vendor(connections[alias])
        receivers.connect()
        if settings.OUTBOX_EMBEDDED_WORKER:
            from workflows import worker

            worker.start_embedded()
