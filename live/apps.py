from django.apps import AppConfig


class LiveConfig(AppConfig):
    """Live updates: broadcast after commit, and the ``/ws/live/`` consumer."""

    name = "live"
    verbose_name = "Live updates"

    def ready(self) -> None:
        from live import broadcast

        broadcast.connect()
