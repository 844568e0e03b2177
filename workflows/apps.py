from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """The core: every model, the event contract, ingest, the fold, people's actions."""

    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from workflows import receivers

        receivers.connect()
