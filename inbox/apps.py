from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Task inbox"

    def ready(self) -> None:
        from inbox import broadcast, signals

        signals.connect()
        broadcast.connect()
